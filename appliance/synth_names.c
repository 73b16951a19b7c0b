/*
 * appliance/synth_names.c - the tables behind the synthetic population.
 *
 * Owns the 47 counties (official codes and order, 2019 census populations, the
 * share of residents born in another county, and the communities of people
 * born there), the naming traditions of Kenyan communities and of the foreign
 * nationalities most common in Kenya, and the nationalities themselves.  The
 * names are common given names and surnames, so any resemblance of a generated
 * combination to a real person is chance.  Only data lives here; synth.c draws
 * from it.
 */
#include "appliance/synth.h"

#define LIST(a)                                                                                    \
    {                                                                                              \
        a, (unsigned)(sizeof(a) / sizeof((a)[0]))                                                  \
    }

/* ---- names shared across communities ----------------------------------------- */

static const char *const christian_male[] = {
    "John",     "Peter",   "James",    "Joseph",  "David",    "Daniel",   "Samuel",  "Paul",
    "Stephen",  "Michael", "George",   "Francis", "Patrick",  "Charles",  "Kennedy", "Dennis",
    "Brian",    "Kevin",   "Collins",  "Victor",  "Geoffrey", "Evans",    "Vincent", "Moses",
    "Isaac",    "Bernard", "Wilson",   "Philip",  "Simon",    "Anthony",  "Robert",  "Richard",
    "Eric",     "Felix",   "Martin",   "Joshua",  "Emmanuel", "Elijah",   "Timothy", "Nicholas",
    "Edwin",    "Alex",    "Duncan",   "Caleb",   "Gideon",   "Amos",     "Jackson", "Nelson",
    "Erick",    "Dominic", "Lawrence", "Julius",  "Elias",    "Jacob",    "Benson",  "Allan",
    "Ian",      "Mark",    "Boniface", "Titus",   "Cyrus",    "Fredrick", "Hillary", "Wycliffe",
    "Shadrack", "Meshack", "Job",      "Enock",   "Ezekiel",  "Josphat",  "Kelvin",  "Festus",
    "Silas",    "Reuben",  "Nathan",   "Obadiah",
};

static const char *const christian_female[] = {
    "Mary",      "Grace",     "Faith",    "Mercy",   "Esther",    "Jane",      "Elizabeth",
    "Margaret",  "Lucy",      "Ann",      "Agnes",   "Caroline",  "Catherine", "Joyce",
    "Nancy",     "Rose",      "Susan",    "Sarah",   "Ruth",      "Alice",     "Beatrice",
    "Eunice",    "Gladys",    "Irene",    "Janet",   "Josephine", "Lilian",    "Mildred",
    "Naomi",     "Pauline",   "Purity",   "Rebecca", "Winnie",    "Christine", "Dorcas",
    "Doris",     "Everlyne",  "Florence", "Hellen",  "Jacinta",   "Judith",    "Monicah",
    "Phyllis",   "Rachael",   "Sharon",   "Brenda",  "Diana",     "Emily",     "Eva",
    "Gloria",    "Hannah",    "Joan",     "Linet",   "Maureen",   "Millicent", "Rosemary",
    "Stella",    "Teresia",   "Veronica", "Violet",  "Zipporah",  "Damaris",   "Tabitha",
    "Priscilla", "Consolata", "Cynthia",  "Mourine", "Sheila",    "Abigail",   "Vivian",
    "Peris",     "Lydia",     "Edith",    "Charity", "Jackline",  "Magdaline",
};

static const char *const muslim_male[] = {
    "Mohamed", "Ahmed",   "Ali",      "Hassan",   "Hussein", "Abdallah", "Omar",
    "Ibrahim", "Yusuf",   "Ismail",   "Salim",    "Rashid",  "Hamisi",   "Juma",
    "Bakari",  "Athman",  "Said",     "Khamis",   "Abdul",   "Abubakar", "Issa",
    "Idris",   "Mustafa", "Suleiman", "Khalid",   "Faisal",  "Swaleh",   "Twaha",
    "Nassir",  "Mahmoud", "Kassim",   "Ramadhan", "Shaban",  "Hamza",    "Bilal",
};

static const char *const muslim_female[] = {
    "Fatuma",    "Amina",  "Halima",  "Mwanaisha", "Zainab", "Khadija", "Mariam",
    "Aisha",     "Zuhura", "Saida",   "Rehema",    "Asha",   "Hadija",  "Salma",
    "Mwanajuma", "Fatma",  "Hawa",    "Rukia",     "Najma",  "Latifa",  "Nasra",
    "Sofia",     "Habiba", "Zulekha", "Mwanahawa", "Swabra", "Shamsa",  "Raya",
};

static const char *const exemptions[] = {
    "Both hands amputated",
    "Fingerprints worn, not capturable after three attempts",
    "Congenital absence of fingers",
    "Severe burns to both hands",
    "Hands bandaged after injury; capture deferred",
    "Skin condition prevents capture",
};

const struct synth_list synth_christian_male = LIST(christian_male);
const struct synth_list synth_christian_female = LIST(christian_female);
const struct synth_list synth_muslim_male = LIST(muslim_male);
const struct synth_list synth_muslim_female = LIST(muslim_female);
const struct synth_list synth_exemptions = LIST(exemptions);

/* ---- Kenyan communities ------------------------------------------------------ */

static const char *const kikuyu_m[] = {
    "Kamau",    "Mwangi",    "Njoroge",  "Kariuki",  "Maina",    "Kimani",   "Ngugi",
    "Githinji", "Waweru",    "Njuguna",  "Macharia", "Gitau",    "Karanja",  "Mburu",
    "Ndungu",   "Kinyanjui", "Wainaina", "Muriuki",  "Gachanja", "Kiarie",   "Muthee",
    "Mugo",     "Kibe",      "Gathogo",  "Ng'ang'a", "Wachira",  "Mathenge", "Kagwe",
    "Muchiri",  "Kahara",    "Kuria",    "Ndirangu", "Gichuki",  "Njenga",   "Chege",
    "Thuo",     "Gikonyo",   "Mbugua",   "Muigai",   "Kimotho",  "Nderitu",  "Gathua",
};
static const char *const kikuyu_f[] = {
    "Wanjiru", "Wambui",  "Njeri",   "Wairimu",  "Wanjiku", "Nyambura", "Wangari",  "Wangui",
    "Muthoni", "Njoki",   "Wanjira", "Waithera", "Nyokabi", "Wachera",  "Wangechi", "Gathoni",
    "Mumbi",   "Wahu",    "Waceke",  "Nduta",    "Ng'endo", "Warigia",  "Wamaitha", "Kabura",
    "Wanja",   "Nyawira", "Wanjugu", "Mukami",   "Wacuka",  "Wangeci",  "Wamuyu",   "Nyakio",
};

static const char *const luo_m[] = {
    "Otieno", "Odhiambo", "Ochieng", "Onyango", "Owino", "Omondi", "Okoth",  "Ouma",   "Oduor",
    "Okello", "Opiyo",    "Oluoch",  "Otiende", "Obuya", "Odongo", "Omollo", "Ogola",  "Owuor",
    "Oketch", "Ochola",   "Ogutu",   "Oyoo",    "Odero", "Obiero", "Ojwang", "Okumu",  "Ouko",
    "Obonyo", "Osano",    "Opondo",  "Onyach",  "Oloo",  "Odede",  "Olang",  "Otuoma",
};
static const char *const luo_f[] = {
    "Akinyi", "Atieno", "Achieng", "Anyango", "Awino",  "Adhiambo", "Akoth",  "Auma",
    "Aoko",   "Apiyo",  "Aluoch",  "Akello",  "Adongo", "Amollo",   "Awuor",  "Akumu",
    "Aketch", "Awiti",  "Adoyo",   "Ajwang",  "Anyona", "Akeyo",    "Abongo", "Adero",
};

static const char *const luhya_m[] = {
    "Wafula",  "Wekesa",  "Barasa",  "Wanjala",  "Simiyu",  "Wasike",   "Masinde",
    "Wamalwa", "Makokha", "Shikuku", "Mukhwana", "Wangila", "Khisa",    "Mulama",
    "Lusweti", "Wanyama", "Sifuna",  "Khaemba",  "Mayende", "Ambani",   "Andati",
    "Shiundu", "Alusa",   "Lukoye",  "Wabwire",  "Wesonga", "Kweyu",    "Echesa",
    "Namayi",  "Mukabi",  "Kibisu",  "Ingutia",  "Mmbaka",  "Indimuli",
};
static const char *const luhya_f[] = {
    "Nafula",  "Nekesa",  "Naliaka",   "Nasimiyu",   "Nanjala",  "Nabwire", "Nekoye",
    "Nasike",  "Nanyama", "Nangila",   "Nakhumicha", "Nabalayo", "Ayuma",   "Anzaya",
    "Khavere", "Naswa",   "Namukhosi", "Kageha",     "Mmbone",   "Imbenzi",
};

static const char *const kalenjin_m[] = {
    "Kiprono",   "Kipchoge", "Kiptoo",   "Kipkemboi", "Kipruto", "Kiplagat", "Kipkorir", "Kibet",
    "Cheruiyot", "Koech",    "Kirui",    "Rotich",    "Langat",  "Kosgei",   "Kemboi",   "Biwott",
    "Kiprotich", "Kipngeno", "Kipyegon", "Kiprop",    "Tanui",   "Bett",     "Korir",    "Sang",
    "Mutai",     "Ngetich",  "Kimutai",  "Kipsang",   "Yego",    "Keter",    "Limo",     "Kiplimo",
    "Tuwei",     "Kipkurui", "Chirchir", "Kimaiyo",   "Kiptum",  "Kurgat",
};
static const char *const kalenjin_f[] = {
    "Chepkoech",   "Chebet",    "Jepkosgei", "Chepkemoi", "Chepngetich", "Jeptoo",
    "Jepchirchir", "Chelangat", "Cherono",   "Chepkirui", "Jerotich",    "Chemutai",
    "Chepkorir",   "Jelagat",   "Chepkurui", "Cheptoo",   "Chepchumba",  "Cherotich",
    "Chelimo",     "Jeptum",    "Chepngeno", "Jepkemei",  "Cheptanui",   "Jemutai",
};
static const char *const kalenjin_s[] = {
    "Koech",   "Kirui",     "Rotich",   "Langat",   "Kosgei", "Kemboi",    "Biwott",
    "Tanui",   "Bett",      "Korir",    "Sang",     "Mutai",  "Ngetich",   "Cheruiyot",
    "Kiprono", "Kipchoge",  "Kibet",    "Yego",     "Keter",  "Limo",      "Kiplagat",
    "Kiptoo",  "Tuwei",     "Chirchir", "Kimaiyo",  "Kiprop", "Kipkemboi", "Kimutai",
    "Kurgat",  "Kiprotich", "Cheruto",  "Kipkorir", "Kiptum", "Lagat",
};

static const char *const kamba_m[] = {
    "Mutua",  "Musyoka", "Mwendwa",   "Kyalo",   "Muthama", "Kioko",    "Mutiso",  "Nzioka",
    "Mulwa",  "Maundu",  "Kilonzo",   "Wambua",  "Musau",   "Ndambuki", "Mwanzia", "Kimeu",
    "Munyao", "Nzuki",   "Kavita",    "Mutinda", "Muia",    "Nthiwa",   "Kitheka", "Muli",
    "Mbithi", "Mutuku",  "Mwangangi", "Kiilu",   "Masila",  "Kasyoki",  "Ndolo",   "Makau",
};
static const char *const kamba_f[] = {
    "Mwikali",  "Ndunge",  "Mueni",  "Kanini", "Mwende",  "Syombua", "Kalekye", "Nduku",
    "Mwongeli", "Kasyoka", "Ndinda", "Mumbua", "Katunge", "Ndanu",   "Kavata",  "Mbithe",
    "Nthenya",  "Wayua",   "Mutheu", "Kaluki", "Mutanu",  "Kamene",  "Koki",    "Mwelu",
};

static const char *const kisii_m[] = {
    "Onyancha", "Nyakundi", "Ondieki",  "Mogaka",  "Ogeto",    "Omari",    "Mokaya",
    "Obure",    "Ongeri",   "Mong'are", "Momanyi", "Omwenga",  "Ratemo",   "Osoro",
    "Nyagaka",  "Orina",    "Ombui",    "Mose",    "Bosire",   "Nyang'au", "Makori",
    "Okari",    "Matoke",   "Ondari",   "Omosa",   "Oenga",    "Onsongo",  "Nyabuto",
    "Gichana",  "Onchwari", "Onkoba",   "Mogire",  "Nyamweya", "Arasa",
};
static const char *const kisii_f[] = {
    "Moraa",    "Nyaboke",    "Kerubo",   "Kemunto",   "Nyanchama", "Kwamboka", "Bosibori",
    "Nyamoita", "Nyakerario", "Kemuma",   "Mokeira",   "Nyamusi",   "Gesare",   "Nyabate",
    "Mong'ina", "Nyambeki",   "Bonareri", "Monyenche", "Kerebi",    "Nyarangi",
};

static const char *const meru_m[] = {
    "Mutwiri", "Murithi", "Kirimi",   "Mwenda",    "Kinoti",   "Gitonga", "Mugambi", "Kaberia",
    "Mbaabu",  "Kimathi", "Koome",    "Muthomi",   "Kithinji", "Mutuma",  "Kiogora", "Mwiti",
    "Murungi", "Gikunda", "Mutembei", "Njeru",     "Nyaga",    "Ireri",   "Kinyua",  "Munene",
    "Mugendi", "Ntongai", "M'Ikiara", "M'Mbijiwe", "Muchena",  "Kirima",  "Mwirigi", "Mworia",
};
static const char *const meru_f[] = {
    "Kendi",   "Nkatha",   "Makena",  "Gatwiri", "Kawira",  "Karimi",   "Kagendo",
    "Nkirote", "Kananu",   "Kathure", "Kinya",   "Gacheri", "Kaari",    "Mukiri",
    "Kanana",  "Kagwiria", "Gakii",   "Kainda",  "Nkuene",  "Ciambaka",
};

static const char *const mijikenda_m[] = {
    "Kazungu",  "Baya",    "Charo",  "Kahindi",  "Kenga",   "Katana", "Ngala", "Kalume",
    "Chai",     "Karisa",  "Kombe",  "Nyale",    "Tsuma",   "Kitsao", "Jefwa", "Kadenge",
    "Mwachiro", "Chengo",  "Dzombo", "Mwaringa", "Ngumbao", "Thoya",  "Tinga", "Mramba",
    "Masha",    "Mwabili", "Kiti",   "Munga",    "Mangi",   "Sanga",
};
static const char *const mijikenda_f[] = {
    "Kadzo",  "Dama",   "Sidi",   "Kache", "Kavumbi", "Kanze", "Mbeyu",  "Sadaka", "Kasichana",
    "Riziki", "Zawadi", "Kahaso", "Nyevu", "Kaingu",  "Kachi", "Mwenda", "Dzame",  "Kafedha",
};

static const char *const somali_m[] = {
    "Abdi",      "Abdirahman", "Abdullahi", "Mohamed", "Ahmed",  "Hassan", "Hussein", "Farah",
    "Aden",      "Omar",       "Ali",       "Ibrahim", "Yusuf",  "Osman",  "Warsame", "Abdikadir",
    "Abdirizak", "Abdinoor",   "Mohamud",   "Hirsi",   "Dahir",  "Gedi",   "Nur",     "Bashir",
    "Ismail",    "Hared",      "Dualle",    "Noor",    "Jama",   "Elmi",   "Mahat",   "Abdiaziz",
    "Abdiweli",  "Adan",       "Sahal",     "Billow",  "Kullow", "Maalim", "Diriye",  "Sheikh",
};
static const char *const somali_f[] = {
    "Fadumo", "Halima", "Amina",   "Hodan", "Sahra",   "Asha",    "Ifrah", "Deqa",
    "Hawa",   "Maryan", "Khadra",  "Faiza", "Sagal",   "Nasteho", "Ubah",  "Hibo",
    "Ayan",   "Fartun", "Naima",   "Ikran", "Sadia",   "Zamzam",  "Muna",  "Hamdi",
    "Suad",   "Nimco",  "Kaltuma", "Anab",  "Istahil", "Shukri",
};

static const char *const maasai_m[] = {
    "Saitoti", "Ntimama", "Tipis",    "Lemayian", "Lenku",   "Parmuat",   "Sankale",
    "Koikai",  "Kamwaro", "Sayialel", "Kasaine",  "Kantai",  "Nkaissery", "Sapit",
    "Tajeu",   "Sironka", "Lemaron",  "Kipury",   "Mpaayei", "Saruni",    "Lekakeny",
};
static const char *const maasai_f[] = {
    "Naserian", "Nashipai", "Resian",   "Naanyu",    "Seneta",   "Nalangu", "Naisula",
    "Naeku",    "Nasieku",  "Namunyak", "Nailantei", "Sintamei", "Soila",   "Naipanoi",
};
static const char *const maasai_s[] = {
    "Ole Sankok",   "Ole Kina",  "Ole Sapit", "Ole Ntimama", "Ole Lenku", "Ole Kaparo",
    "Ole Nkoitiko", "Ole Tipis", "Saitoti",   "Parmuat",     "Koikai",    "Kamwaro",
    "Sayialel",     "Kasaine",   "Kantai",    "Nkaissery",   "Tajeu",     "Sironka",
    "Kipury",       "Mpaayei",   "Saruni",    "Lemayian",
};

static const char *const turkana_m[] = {
    "Ekai",    "Lokwang", "Ekiru",   "Ewoi",    "Lokuruka", "Ekidor", "Lokorio", "Ebei",
    "Emuria",  "Lodio",   "Ekal",    "Eregae",  "Lokol",    "Loteng", "Lochan",  "Nanok",
    "Lotiang", "Ekuam",   "Lopeyok", "Lomuria", "Ekaran",   "Ewesit", "Longole", "Akwam",
};
static const char *const turkana_f[] = {
    "Akai",  "Akiru", "Nakiru",  "Akuwom", "Nakali", "Napeyok", "Akidor",
    "Nawoi", "Akal",  "Ngasike", "Namoru", "Asekon", "Nachuro", "Ekaale",
};

static const char *const taita_m[] = {
    "Mwakio",     "Mwadime",   "Mwatela",  "Mghanga",  "Mwangolo", "Mwamburi",
    "Mwandawiro", "Mwanyumba", "Kishombe", "Mwakazi",  "Mcharo",   "Mwaluma",
    "Mwasi",      "Mwachofi",  "Mwakima",  "Mwangeka", "Mlamba",   "Mwanjala",
};
static const char *const taita_f[] = {
    "Wakio", "Wakesho", "Wawuda", "Mkamburi", "Wughanga", "Wanjala", "Mghoi", "Mwanake",
};

static const char *const borana_m[] = {
    "Guyo",    "Jillo", "Galgalo", "Boru",    "Wako",    "Huka",   "Dida",
    "Godana",  "Roba",  "Tadicha", "Abdub",   "Dabasso", "Halake", "Jarso",
    "Golicha", "Duba",  "Diba",    "Guracha", "Molu",    "Bonaya", "Elema",
};
static const char *const borana_f[] = {
    "Qabale", "Darmi", "Guyatu", "Shanu", "Boneya", "Arbe",
};

static const char *const swahili_m[] = {
    "Mwinyi", "Bakari",  "Athman",    "Hamisi", "Juma",  "Mbarak",  "Faki",
    "Omar",   "Swaleh",  "Shee",      "Famau",  "Kombo", "Abdalla", "Salim",
    "Khamis", "Mohamed", "Bwanaheri", "Shekue", "Hemed", "Lali",
};

static const char *const teso_m[] = {
    "Etyang",  "Okiror", "Emojong", "Omuse",  "Ojaamong", "Osuru",   "Ekisa",  "Emaase", "Okwara",
    "Esinyen", "Oduya",  "Ekirapa", "Ikapel", "Okolla",   "Omoding", "Eregae", "Odeke",  "Obunyasi",
};
static const char *const teso_f[] = {
    "Amoit", "Akiror", "Amongin", "Apolot", "Asekenye", "Aguti", "Alupo", "Akello", "Acom",
};

static const char *const samburu_m[] = {
    "Lesiamon",   "Lenolkulal", "Lempurkel", "Lenaiyasa",  "Letipila",  "Lemerketo",
    "Lenairoshi", "Lekolool",   "Lekishon",  "Lenkaina",   "Lemantile", "Lepartingat",
    "Lolchuraki", "Lekuraa",    "Lesuuda",   "Lentoimaga",
};

/* ---- foreign name pools ------------------------------------------------------ */

static const char *const uganda_m[] = {
    "Kato",     "Wasswa", "Mukasa",   "Ssali",  "Mugisha",    "Tumusiime", "Kizza",
    "Mwesigwa", "Okello", "Ochen",    "Opio",   "Byaruhanga", "Kiggundu",  "Nsubuga",
    "Katumba",  "Lubega", "Ssempala", "Tugume", "Kasozi",     "Waiswa",
};
static const char *const uganda_f[] = {
    "Nakato",  "Babirye",   "Nambi", "Namubiru", "Nansubuga", "Atwine",    "Kyomuhendo",
    "Nalwoga", "Nabukenya", "Achen", "Namatovu", "Nakimuli",  "Kemigisha",
};

static const char *const tanzania_m[] = {
    "Baraka",  "Zuberi",  "Mussa", "Ally",   "Shabani",  "Daudi",  "Elia",       "Mrema", "Mushi",
    "Massawe", "Kimaro",  "Lyimo", "Mollel", "Mwakyusa", "Msuya",  "Shirima",    "Mwita", "Magesa",
    "Kisanga", "Mbwambo", "Temba", "Swai",   "Minja",    "Urassa", "Mwakalinga",
};
static const char *const tanzania_f[] = {
    "Neema", "Upendo", "Rehema", "Zawadi",  "Imani", "Tumaini", "Furaha",
    "Anna",  "Happy",  "Glory",  "Witness", "Agape", "Subira",  "Pendo",
};
static const char *const tanzania_s[] = {
    "Mrema", "Mushi",   "Massawe", "Kimaro",     "Lyimo",    "Mollel",  "Mwakyusa",
    "Msuya", "Shirima", "Mwita",   "Magesa",     "Kisanga",  "Mbwambo", "Temba",
    "Swai",  "Minja",   "Urassa",  "Mwakalinga", "Mfinanga", "Mapunda",
};

static const char *const south_sudan_m[] = {
    "Deng", "Garang", "Majok",  "Akol", "Mabior", "Kuol",  "Malual",  "Chol", "Mayen", "Bol",
    "Lual", "Atem",   "Makuei", "Ajak", "Dut",    "Nyuon", "Gatluak", "Riek", "Lado",  "Wani",
};
static const char *const south_sudan_f[] = {
    "Nyandeng", "Achol",    "Ayen",   "Abuk",  "Adut", "Nyibol", "Akuol",
    "Aluel",    "Nyakuoth", "Nyamal", "Achai", "Ajok", "Nyabol", "Awut",
};

static const char *const ethiopia_m[] = {
    "Tesfaye",  "Abebe",    "Girma", "Haile",       "Alemu",   "Bekele",  "Tadesse",
    "Getachew", "Mulugeta", "Dawit", "Yohannes",    "Solomon", "Kebede",  "Mekonnen",
    "Wondimu",  "Assefa",   "Desta", "Gebremedhin", "Hailu",   "Teshome", "Negash",
    "Fikru",    "Biruk",    "Henok", "Abdulkadir",  "Jemal",
};
static const char *const ethiopia_f[] = {
    "Tigist", "Meron", "Hirut", "Selam", "Bethlehem", "Mahlet", "Almaz",
    "Tsion",  "Hanna", "Rahel", "Sara",  "Mekdes",    "Aster",  "Frehiwot",
    "Genet",  "Yeshi", "Helen", "Liya",  "Kedija",
};

static const char *const congo_m[] = {
    "Jean-Pierre", "Jérôme",  "Héritier", "Dieudonné", "Célestin", "Théodore",
    "Aimé",        "Patrice", "Didier",   "Fiston",    "Glody",    "Christian",
    "Serge",       "Olivier", "Benoît",   "Désiré",    "Joël",     "Gédéon",
};
static const char *const congo_f[] = {
    "Thérèse",      "Espérance", "Béatrice", "Chantal",  "Gisèle",    "Clémentine",
    "Marie-Claire", "Josée",     "Nadège",   "Félicité", "Hélène",    "Cécile",
    "Mireille",     "Solange",   "Blandine", "Grâce",    "Bénédicte", "Ornella",
};
static const char *const congo_s[] = {
    "Kabongo", "Mbuyi",   "Ilunga", "Tshibanda", "Mukendi", "Kalonji", "Kasongo",
    "Lukusa",  "Mutombo", "Ngoy",   "Kabeya",    "Nzuzi",   "Makiese", "Mpiana",
    "Lokondo", "Mulamba", "Banza",  "Kanku",     "Kazadi",  "Mwamba",  "Tshimanga",
};

static const char *const rwanda_m[] = {
    "Jean Bosco", "Emmanuel", "Innocent",  "Eric",     "Claude",       "Fabrice",
    "Olivier",    "Aimable",  "Théoneste", "Évariste", "Jean de Dieu", "Gaspard",
};
static const char *const rwanda_f[] = {
    "Claudine", "Alice",     "Diane",     "Aline",    "Jeanne",  "Josiane",
    "Vestine",  "Immaculée", "Donatille", "Sandrine", "Chantal", "Odette",
};
static const char *const rwanda_s[] = {
    "Uwimana",    "Niyonzima", "Habimana", "Mukamana",   "Ndayishimiye", "Nshimirimana",
    "Hakizimana", "Niyonsaba", "Bizimana", "Nkurunziza", "Uwase",        "Mugabo",
    "Ingabire",   "Umutoni",   "Irakoze",  "Ndikumana",  "Nsengiyumva",  "Mukeshimana",
};

static const char *const india_m[] = {
    "Rahul",   "Amit",  "Sanjay", "Vikram", "Rajesh", "Anil",   "Suresh",
    "Ravi",    "Arjun", "Nikhil", "Karan",  "Deepak", "Manoj",  "Harish",
    "Pradeep", "Rohan", "Ketan",  "Hitesh", "Jayesh", "Mukesh",
};
static const char *const india_f[] = {
    "Priya", "Sunita", "Anjali", "Pooja", "Neha",  "Kavita", "Meera",  "Divya",
    "Nisha", "Rekha",  "Shreya", "Komal", "Hetal", "Jyoti",  "Bhavna", "Rupal",
};
static const char *const india_s[] = {
    "Patel",   "Shah",  "Sharma",  "Singh", "Mehta", "Desai",   "Gupta",
    "Kumar",   "Joshi", "Rao",     "Nair",  "Iyer",  "Bhatt",   "Pandya",
    "Thakkar", "Sodha", "Kotecha", "Raval", "Vora",  "Chauhan", "Dodhia",
};

static const char *const china_m[] = {
    "Wei", "Lei", "Jun", "Hao", "Yang", "Jian", "Ming", "Tao", "Bo", "Qiang", "Peng", "Chao",
};
static const char *const china_f[] = {
    "Fang", "Jing", "Li", "Mei", "Ying", "Xin", "Yan", "Hui", "Lan", "Na", "Xiu", "Yu",
};
static const char *const china_s[] = {
    "Wang", "Li",   "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao",
    "Wu",   "Zhou", "Xu",    "Sun", "Ma",   "Zhu",  "Hu",    "Guo",
};

static const char *const anglo_m[] = {
    "James",    "Oliver",  "William", "Thomas",  "George", "Harry",       "Jack",
    "Daniel",   "Michael", "Robert",  "Matthew", "Andrew", "Christopher", "David",
    "Benjamin", "Samuel",  "Edward",  "Henry",   "Ryan",   "Tyler",
};
static const char *const anglo_f[] = {
    "Emily",   "Sophie",    "Charlotte", "Olivia",  "Emma",   "Hannah",
    "Jessica", "Sarah",     "Laura",     "Rebecca", "Lucy",   "Amelia",
    "Grace",   "Elizabeth", "Katherine", "Megan",   "Ashley", "Jennifer",
};
static const char *const anglo_s[] = {
    "Smith",   "Jones",    "Brown",   "Taylor",   "Williams", "Wilson", "Johnson",
    "Davies",  "Robinson", "Wright",  "Thompson", "Evans",    "Walker", "White",
    "Roberts", "Green",    "Hall",    "Wood",     "Clarke",   "Miller", "Anderson",
    "Moore",   "Campbell", "O'Brien", "McDonald", "Hughes",
};

#define COMMUNITY(nm, m, f, s, chr, mus, pat)                                                      \
    {                                                                                              \
        nm, LIST(m), LIST(f), LIST(s), chr, mus, pat                                               \
    }

const struct synth_community synth_communities[SC_COUNT] = {
    [SC_KIKUYU] = COMMUNITY("Kikuyu", kikuyu_m, kikuyu_f, kikuyu_m, 850, 10, false),
    [SC_LUO] = COMMUNITY("Luo", luo_m, luo_f, luo_m, 800, 20, false),
    [SC_LUHYA] = COMMUNITY("Luhya", luhya_m, luhya_f, luhya_m, 850, 30, false),
    [SC_KALENJIN] = COMMUNITY("Kalenjin", kalenjin_m, kalenjin_f, kalenjin_s, 800, 10, false),
    [SC_KAMBA] = COMMUNITY("Kamba", kamba_m, kamba_f, kamba_m, 850, 20, false),
    [SC_KISII] = COMMUNITY("Kisii", kisii_m, kisii_f, kisii_m, 880, 10, false),
    [SC_MERU] = COMMUNITY("Meru", meru_m, meru_f, meru_m, 850, 20, false),
    [SC_MIJIKENDA] = COMMUNITY("Mijikenda", mijikenda_m, mijikenda_f, mijikenda_m, 550, 300, false),
    [SC_SOMALI] = COMMUNITY("Somali", somali_m, somali_f, somali_m, 0, 300, true),
    [SC_MAASAI] = COMMUNITY("Maasai", maasai_m, maasai_f, maasai_s, 700, 0, false),
    [SC_TURKANA] = COMMUNITY("Turkana", turkana_m, turkana_f, turkana_m, 600, 10, false),
    [SC_TAITA] = COMMUNITY("Taita", taita_m, taita_f, taita_m, 850, 50, false),
    [SC_BORANA] = COMMUNITY("Borana", borana_m, borana_f, borana_m, 200, 600, true),
    [SC_SWAHILI] = COMMUNITY("Swahili", swahili_m, muslim_female, swahili_m, 30, 700, true),
    [SC_TESO] = COMMUNITY("Teso", teso_m, teso_f, teso_m, 850, 20, false),
    [SC_SAMBURU] = COMMUNITY("Samburu", samburu_m, maasai_f, samburu_m, 550, 0, false),
    [SC_UGANDA] = COMMUNITY("Ugandan", uganda_m, uganda_f, uganda_m, 750, 100, false),
    [SC_TANZANIA] = COMMUNITY("Tanzanian", tanzania_m, tanzania_f, tanzania_s, 600, 250, false),
    [SC_SOUTH_SUDAN] =
        COMMUNITY("South Sudanese", south_sudan_m, south_sudan_f, south_sudan_m, 600, 50, true),
    [SC_ETHIOPIA] = COMMUNITY("Ethiopian", ethiopia_m, ethiopia_f, ethiopia_m, 0, 150, true),
    [SC_CONGO] = COMMUNITY("Congolese", congo_m, congo_f, congo_s, 0, 0, false),
    [SC_RWANDA_BURUNDI] =
        COMMUNITY("Rwandan/Burundian", rwanda_m, rwanda_f, rwanda_s, 0, 30, false),
    [SC_INDIA] = COMMUNITY("Indian", india_m, india_f, india_s, 0, 0, false),
    [SC_CHINA] = COMMUNITY("Chinese", china_m, china_f, china_s, 0, 0, false),
    [SC_ANGLO] = COMMUNITY("British/American", anglo_m, anglo_f, anglo_s, 0, 0, false),
};

/* ---- counties ---------------------------------------------------------------- */

#define MIX(c, w)                                                                                  \
    {                                                                                              \
        SC_##c, w                                                                                  \
    }

const struct synth_county synth_counties[SYNTH_COUNTIES] = {
    {"001",
     "Mombasa",
     1208333,
     400,
     {MIX(MIJIKENDA, 35), MIX(SWAHILI, 20), MIX(LUO, 10), MIX(KAMBA, 10), MIX(KIKUYU, 8),
      MIX(LUHYA, 8), MIX(TAITA, 5), MIX(SOMALI, 4)}},
    {"002",
     "Kwale",
     866820,
     80,
     {MIX(MIJIKENDA, 85), MIX(SWAHILI, 5), MIX(KAMBA, 5), MIX(KIKUYU, 5)}},
    {"003", "Kilifi", 1453787, 80, {MIX(MIJIKENDA, 90), MIX(SWAHILI, 5), MIX(LUO, 5)}},
    {"004",
     "Tana River",
     315943,
     80,
     {MIX(BORANA, 30), MIX(SOMALI, 25), MIX(SWAHILI, 25), MIX(MIJIKENDA, 20)}},
    {"005",
     "Lamu",
     143920,
     250,
     {MIX(SWAHILI, 60), MIX(KIKUYU, 20), MIX(MIJIKENDA, 10), MIX(SOMALI, 10)}},
    {"006", "Taita/Taveta", 340671, 80, {MIX(TAITA, 80), MIX(KAMBA, 10), MIX(MIJIKENDA, 10)}},
    {"007", "Garissa", 841353, 80, {MIX(SOMALI, 95), MIX(BORANA, 5)}},
    {"008", "Wajir", 781263, 60, {MIX(SOMALI, 98), MIX(BORANA, 2)}},
    {"009", "Mandera", 867457, 60, {MIX(SOMALI, 98), MIX(BORANA, 2)}},
    {"010",
     "Marsabit",
     459785,
     80,
     {MIX(BORANA, 70), MIX(SAMBURU, 10), MIX(SOMALI, 10), MIX(TURKANA, 10)}},
    {"011",
     "Isiolo",
     268002,
     200,
     {MIX(BORANA, 50), MIX(SOMALI, 20), MIX(MERU, 15), MIX(TURKANA, 15)}},
    {"012", "Meru", 1545714, 80, {MIX(MERU, 95), MIX(KIKUYU, 5)}},
    {"013", "Tharaka-Nithi", 393177, 80, {MIX(MERU, 95), MIX(KAMBA, 5)}},
    {"014", "Embu", 608599, 80, {MIX(MERU, 85), MIX(KAMBA, 10), MIX(KIKUYU, 5)}},
    {"015", "Kitui", 1136187, 80, {MIX(KAMBA, 95), MIX(SOMALI, 2), MIX(KIKUYU, 3)}},
    {"016", "Machakos", 1421932, 200, {MIX(KAMBA, 88), MIX(KIKUYU, 7), MIX(LUO, 5)}},
    {"017", "Makueni", 987653, 80, {MIX(KAMBA, 95), MIX(KIKUYU, 5)}},
    {"018", "Nyandarua", 638289, 80, {MIX(KIKUYU, 95), MIX(KALENJIN, 5)}},
    {"019", "Nyeri", 759164, 80, {MIX(KIKUYU, 95), MIX(MERU, 5)}},
    {"020", "Kirinyaga", 610411, 80, {MIX(KIKUYU, 95), MIX(MERU, 5)}},
    {"021", "Murang'a", 1056640, 80, {MIX(KIKUYU, 97), MIX(KAMBA, 3)}},
    {"022",
     "Kiambu",
     2417735,
     350,
     {MIX(KIKUYU, 80), MIX(LUHYA, 7), MIX(LUO, 5), MIX(KAMBA, 5), MIX(KISII, 3)}},
    {"023", "Turkana", 926976, 60, {MIX(TURKANA, 95), MIX(LUHYA, 2), MIX(KALENJIN, 3)}},
    {"024", "West Pokot", 621241, 60, {MIX(KALENJIN, 92), MIX(TURKANA, 5), MIX(LUHYA, 3)}},
    {"025",
     "Samburu",
     310327,
     80,
     {MIX(SAMBURU, 80), MIX(TURKANA, 10), MIX(KIKUYU, 5), MIX(BORANA, 5)}},
    {"026",
     "Trans Nzoia",
     990341,
     250,
     {MIX(LUHYA, 55), MIX(KALENJIN, 25), MIX(KIKUYU, 10), MIX(TESO, 5), MIX(KISII, 5)}},
    {"027",
     "Uasin Gishu",
     1163186,
     250,
     {MIX(KALENJIN, 60), MIX(LUHYA, 15), MIX(KIKUYU, 15), MIX(LUO, 5), MIX(KISII, 5)}},
    {"028", "Elgeyo/Marakwet", 454480, 60, {MIX(KALENJIN, 97), MIX(LUHYA, 3)}},
    {"029", "Nandi", 885711, 80, {MIX(KALENJIN, 90), MIX(LUHYA, 7), MIX(LUO, 3)}},
    {"030", "Baringo", 666763, 80, {MIX(KALENJIN, 90), MIX(SAMBURU, 5), MIX(TURKANA, 5)}},
    {"031",
     "Laikipia",
     518560,
     200,
     {MIX(KIKUYU, 65), MIX(SAMBURU, 10), MIX(MAASAI, 10), MIX(KALENJIN, 5), MIX(MERU, 5),
      MIX(TURKANA, 5)}},
    {"032",
     "Nakuru",
     2162202,
     300,
     {MIX(KIKUYU, 50), MIX(KALENJIN, 30), MIX(LUHYA, 8), MIX(LUO, 6), MIX(KISII, 4),
      MIX(KAMBA, 2)}},
    {"033",
     "Narok",
     1157873,
     150,
     {MIX(MAASAI, 55), MIX(KALENJIN, 30), MIX(KIKUYU, 8), MIX(KISII, 7)}},
    {"034",
     "Kajiado",
     1117840,
     350,
     {MIX(MAASAI, 50), MIX(KIKUYU, 25), MIX(KAMBA, 10), MIX(LUO, 5), MIX(LUHYA, 5), MIX(KISII, 5)}},
    {"035", "Kericho", 901777, 80, {MIX(KALENJIN, 85), MIX(KISII, 8), MIX(LUO, 5), MIX(KIKUYU, 2)}},
    {"036", "Bomet", 875689, 60, {MIX(KALENJIN, 95), MIX(KISII, 5)}},
    {"037", "Kakamega", 1867579, 80, {MIX(LUHYA, 97), MIX(LUO, 3)}},
    {"038", "Vihiga", 590013, 80, {MIX(LUHYA, 97), MIX(LUO, 3)}},
    {"039",
     "Bungoma",
     1670570,
     80,
     {MIX(LUHYA, 85), MIX(KALENJIN, 8), MIX(TESO, 5), MIX(KIKUYU, 2)}},
    {"040", "Busia", 893681, 80, {MIX(LUHYA, 55), MIX(TESO, 40), MIX(LUO, 5)}},
    {"041", "Siaya", 993183, 60, {MIX(LUO, 97), MIX(LUHYA, 3)}},
    {"042", "Kisumu", 1155574, 200, {MIX(LUO, 90), MIX(LUHYA, 5), MIX(KISII, 3), MIX(KIKUYU, 2)}},
    {"043", "Homa Bay", 1131950, 60, {MIX(LUO, 97), MIX(KISII, 3)}},
    {"044", "Migori", 1116436, 80, {MIX(LUO, 75), MIX(KISII, 20), MIX(LUHYA, 5)}},
    {"045", "Kisii", 1266860, 60, {MIX(KISII, 97), MIX(LUO, 3)}},
    {"046", "Nyamira", 605576, 60, {MIX(KISII, 97), MIX(KALENJIN, 3)}},
    {"047",
     "Nairobi",
     4397073,
     550,
     {MIX(KIKUYU, 32), MIX(LUO, 17), MIX(LUHYA, 17), MIX(KAMBA, 15), MIX(KISII, 6),
      MIX(KALENJIN, 5), MIX(MERU, 4), MIX(SOMALI, 4)}},
};

/* ---- nationalities ----------------------------------------------------------- */

const struct synth_nation synth_nations[] = {
    {"UG", SC_UGANDA, 25, 25, 0, 0},          {"TZ", SC_TANZANIA, 15, 20, 0, 0},
    {"SO", SC_SOMALI, 15, 10, 7, 400},        {"SS", SC_SOUTH_SUDAN, 10, 5, 23, 450},
    {"ET", SC_ETHIOPIA, 8, 5, 47, 300},       {"CD", SC_CONGO, 7, 3, 47, 400},
    {"RW", SC_RWANDA_BURUNDI, 4, 5, 47, 300}, {"BI", SC_RWANDA_BURUNDI, 3, 2, 47, 300},
    {"IN", SC_INDIA, 5, 20, 47, 550},         {"CN", SC_CHINA, 3, 1, 47, 700},
    {"GB", SC_ANGLO, 3, 8, 47, 500},          {"US", SC_ANGLO, 2, 1, 47, 500},
};
const unsigned synth_nation_count = sizeof(synth_nations) / sizeof(synth_nations[0]);
