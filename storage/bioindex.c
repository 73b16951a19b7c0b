/*
 * storage/bioindex.c - the 1:N biometric index in memory: finger hashing
 * tables and face codes, the search, and the claims that keep two
 * concurrent enrolments of one person from both getting through.
 *
 * Fingers: geometric hashing of minutia triangles.  Each gallery finger
 * files the triangles of its most central minutiae (bioindex_keys.c: a
 * 21-bit key of side lengths and relative directions, nothing a rotation or
 * translation changes) in one bucket table, as (slot, finger position, the
 * direction of the triangle's longest side, its centre).  A probe finger
 * looks up its own triangles; every gallery triangle of the same finger
 * position in the bucket is a meeting, which implies a rotation and a
 * translation between the two captures, and the gallery finger gets a vote
 * in that cell (16 rotation bins, the nearer neighbouring bin too; 40-pixel
 * translation cells).  A mated finger's meetings agree, chance meetings
 * scatter: a finger's score is its best cell, a person's the sum over the
 * probe's fingers.  Buckets holding more than IX_CROWDED times the mean are
 * common shapes and are skipped.  (Hashing the cylinders themselves, as MCC
 * indexing does, found the mate far less often on our synthetic galleries:
 * docs/biometrics.md.)
 *
 * Faces: the signs of the embedding (one bit per dimension), compared by
 * Hamming distance over every person with a face of the same model: an
 * exhaustive scan of 64 bytes per person for a 512-dimension model, with
 * POPCNT.
 *
 * The shortlist - the IX_FINGER_LIST best by finger votes and the
 * IX_FACE_LIST nearest faces - is then compared in full: the templates are
 * fetched through the caller's callback (they live sealed in the register),
 * prepared, and matched with the real matcher and the exact cosine; the
 * candidates at or above the asked band come back best first.
 *
 * Entries are never moved: a slot per subject, the subject->slot map, and
 * bucket lists of (slot << 8 | position << 4 | rotation reference).  A removed or replaced
 * subject's slot is marked dead and skipped.  One read-write lock guards the tables: searches read,
 * insertions and removals write, and the full comparisons run outside it.
 *
 * Claims (concurrent enrolments): a search sees the index as of its
 * generation.  Before committing, an enrolment claims: it is compared with
 * every entry added since its search (the last IX_RECENT additions are kept
 * prepared for this; older than that and the search must be run again) and
 * with the other open claims - if one of those matches, it waits for it to
 * settle and then sees it as an added entry.  Settling adds the committed
 * entry (or drops an abandoned one) and wakes the waiters.
 */
#include "storage/mcc_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define IX_BUCKET_BITS 20
#define IX_BUCKETS     (1u << IX_BUCKET_BITS)
#define IX_MAX_SLOTS   (1u << 24)
#define IX_ROT_BINS    16    /* of 22.5 degrees */
#define IX_SHIFT_CELL  40.0f /* pixels of translation per vote cell */
#define IX_CROWDED     8
#define IX_FINGER_LIST 16
#define IX_FACE_LIST   4
#define IX_RECENT      128
#define IX_MODELS      16

struct bucket {
    uint64_t *v; /* slot << 40 | position << 36 | reference << 28 | x << 14 | y */
    uint32_t n, cap;
};

struct slot {
    char subject[BIO_SUBJECT_MAX + 1];
    bool live;
    int8_t model; /* -1: no face */
    uint16_t face_dim;
};

struct recent {
    uint64_t gen;
    char subject[BIO_SUBJECT_MAX + 1];
    struct bio_person *p; /* NULL: empty or removed */
};

struct bio_claim {
    struct bio_person *probe;
    struct bio_claim *next;
};

struct bioindex {
    pthread_rwlock_t lock;
    pthread_mutex_t claims_lock;
    pthread_cond_t settled;
    struct store *st;
    struct slot *slots;
    uint32_t nslots, cap;
    uint32_t *map; /* open addressing: slot + 1, 0 empty */
    uint32_t map_cap;
    struct bucket *buckets; /* IX_BUCKETS */
    uint64_t entries;       /* in all buckets */

    char models[IX_MODELS][ID_MAX_LEN + 1];
    unsigned nmodels;
    uint64_t *faces; /* cap * BIO_FACE_WORDS */
    size_t live;
    uint64_t generation;
    struct recent ring[IX_RECENT];
    unsigned ring_next;
    struct bio_claim *claims;
};

/* ---- set-up ------------------------------------------------------------------------- */

struct bioindex *bioindex_new(struct store *st)
{
    struct bioindex *ix = calloc(1, sizeof *ix);
    if (!ix)
        return NULL;
    ix->buckets = calloc(IX_BUCKETS, sizeof *ix->buckets);
    ix->map_cap = 1024;
    ix->map = calloc(ix->map_cap, sizeof *ix->map);
    if (!ix->buckets || !ix->map) {
        free(ix->buckets);
        free(ix->map);
        free(ix);
        return NULL;
    }
    ix->st = st;
    pthread_rwlock_init(&ix->lock, NULL);
    pthread_mutex_init(&ix->claims_lock, NULL);
    pthread_cond_init(&ix->settled, NULL);
    return ix;
}

struct store *bioindex_store(struct bioindex *ix)
{
    return ix->st;
}

void bioindex_close(struct bioindex *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < IX_BUCKETS; i++)
        free(ix->buckets[i].v);
    for (unsigned i = 0; i < IX_RECENT; i++)
        bio_person_free(ix->ring[i].p);
    if (ix->faces)
        explicit_bzero(ix->faces, sizeof(uint64_t) * BIO_FACE_WORDS * ix->cap);
    free(ix->buckets);
    free(ix->map);
    free(ix->slots);
    free(ix->faces);
    pthread_rwlock_destroy(&ix->lock);
    pthread_mutex_destroy(&ix->claims_lock);
    pthread_cond_destroy(&ix->settled);
    free(ix);
}

size_t bioindex_count(struct bioindex *ix)
{
    pthread_rwlock_rdlock(&ix->lock);
    size_t n = ix->live;
    pthread_rwlock_unlock(&ix->lock);
    return n;
}

/* ---- the subject map -------------------------------------------------------------------- */

static uint32_t subject_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* The map position of subject, or of the empty place where it would go. */
static uint32_t map_find(const struct bioindex *ix, const char *subject)
{
    uint32_t mask = ix->map_cap - 1, i = subject_hash(subject) & mask;
    while (ix->map[i] && strcmp(ix->slots[ix->map[i] - 1].subject, subject) != 0)
        i = (i + 1) & mask;
    return i;
}

static int map_grow(struct bioindex *ix)
{
    uint32_t old_cap = ix->map_cap, *old = ix->map;
    uint32_t *map = calloc((size_t)old_cap * 2, sizeof *map);
    if (!map)
        return ST_NOMEM;
    ix->map = map;
    ix->map_cap = old_cap * 2;
    for (uint32_t i = 0; i < old_cap; i++)
        if (old[i])
            ix->map[map_find(ix, ix->slots[old[i] - 1].subject)] = old[i];
    free(old);
    return ST_OK;
}

/* Removes position i, moving later entries of its run back (linear probing). */
static void map_erase(struct bioindex *ix, uint32_t i)
{
    uint32_t mask = ix->map_cap - 1;
    ix->map[i] = 0;
    for (uint32_t j = (i + 1) & mask; ix->map[j]; j = (j + 1) & mask) {
        uint32_t v = ix->map[j];
        ix->map[j] = 0;
        ix->map[map_find(ix, ix->slots[v - 1].subject)] = v;
    }
}

/* ---- insertion and removal (write lock held) ---------------------------------------- */

/* The bucket of a triangle key of a finger position. */
static unsigned bucket_of(uint32_t key, unsigned position)
{
    uint32_t h = (key * 16u + position) * 0x9e3779b1u;
    return h >> (32 - IX_BUCKET_BITS);
}

static int bucket_push(struct bucket *b, uint64_t v)
{
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 4;
        uint64_t *nv = realloc(b->v, sizeof *nv * cap);
        if (!nv)
            return ST_NOMEM;
        b->v = nv;
        b->cap = cap;
    }
    b->v[b->n++] = v;
    return ST_OK;
}

static int slots_grow(struct bioindex *ix)
{
    uint32_t cap = ix->cap ? ix->cap * 2 : 1024;
    struct slot *slots = realloc(ix->slots, sizeof *slots * cap);
    if (!slots)
        return ST_NOMEM;
    ix->slots = slots;
    uint64_t *faces = realloc(ix->faces, sizeof(uint64_t) * BIO_FACE_WORDS * cap);
    if (!faces)
        return ST_NOMEM;
    ix->faces = faces;
    ix->cap = cap;
    return ST_OK;
}

static int model_index(struct bioindex *ix, const char *model)
{
    for (unsigned i = 0; i < ix->nmodels; i++)
        if (strcmp(ix->models[i], model) == 0)
            return (int)i;
    if (ix->nmodels == IX_MODELS)
        return -1; /* faces of a seventeenth model are found by their fingers only */
    snprintf(ix->models[ix->nmodels], sizeof ix->models[0], "%s", model);
    return (int)ix->nmodels++;
}

static void remove_locked(struct bioindex *ix, const char *subject)
{
    uint32_t at = map_find(ix, subject);
    if (!ix->map[at])
        return;
    ix->slots[ix->map[at] - 1].live = false;
    ix->live--;
    map_erase(ix, at);
}

static int add_fingers(struct bioindex *ix, uint32_t slot, const struct bio_codes *c)
{
    for (unsigned f = 0; f < c->nfingers; f++) {
        unsigned pos = c->finger[f].position;
        if (pos < 1 || pos > PERSON_MAX_FINGERS)
            continue;
        for (unsigned i = 0; i < c->finger[f].n; i++) {
            const struct bio_triplet *t = &c->finger[f].t[i];
            uint64_t entry = (uint64_t)slot << 40 | (uint64_t)pos << 36 | (uint64_t)t->ref << 28 |
                             (uint64_t)((t->cx + 8192) & 0x3fff) << 14 | ((t->cy + 8192) & 0x3fff);
            if (bucket_push(&ix->buckets[bucket_of(t->key, pos)], entry) != ST_OK)
                return ST_NOMEM;
            ix->entries++;
        }
    }
    return ST_OK;
}

static int insert_locked(struct bioindex *ix, const char *subject, const struct bio_codes *c)
{
    if (strlen(subject) > BIO_SUBJECT_MAX)
        return ST_INVALID;
    remove_locked(ix, subject);
    if ((ix->live + 1) * 2 > ix->map_cap && map_grow(ix) != ST_OK)
        return ST_NOMEM;
    if (ix->nslots == ix->cap && slots_grow(ix) != ST_OK)
        return ST_NOMEM;
    if (ix->nslots >= IX_MAX_SLOTS)
        return ST_NOMEM; /* bucket entries hold the slot in 24 bits */
    uint32_t slot = ix->nslots;
    struct slot *s = &ix->slots[slot];
    memset(s, 0, sizeof *s);
    snprintf(s->subject, sizeof s->subject, "%s", subject);
    s->model = -1;
    if (c->face_model[0]) {
        s->model = (int8_t)model_index(ix, c->face_model);
        s->face_dim = c->face_dim;
        memcpy(ix->faces + (size_t)slot * BIO_FACE_WORDS, c->face, sizeof c->face);
    }
    int rc = add_fingers(ix, slot, c);
    if (rc != ST_OK)
        return rc; /* the slot stays unused: its partial bucket entries are never live */
    s->live = true;
    ix->nslots++;
    ix->live++;
    ix->map[map_find(ix, subject)] = slot + 1;
    ix->generation++;
    return ST_OK;
}

int bioindex_insert(struct bioindex *ix, const char *subject, const struct bio_codes *c)
{
    pthread_rwlock_wrlock(&ix->lock);
    int rc = insert_locked(ix, subject, c);
    pthread_rwlock_unlock(&ix->lock);
    return rc;
}

static void ring_drop(struct bioindex *ix, const char *subject)
{
    for (unsigned i = 0; i < IX_RECENT; i++) {
        if (ix->ring[i].p && strcmp(ix->ring[i].subject, subject) == 0) {
            bio_person_free(ix->ring[i].p);
            ix->ring[i].p = NULL;
        }
    }
}

void bioindex_forget(struct bioindex *ix, const char *subject)
{
    pthread_mutex_lock(&ix->claims_lock);
    pthread_rwlock_wrlock(&ix->lock);
    remove_locked(ix, subject);
    ix->generation++;
    pthread_rwlock_unlock(&ix->lock);
    ring_drop(ix, subject);
    pthread_mutex_unlock(&ix->claims_lock);
}

/* Adds a committed entry and keeps it prepared in the ring; takes p over. */
static int add_recent_locked(struct bioindex *ix, const char *subject, struct bio_person *p)
{
    struct bio_codes *c = malloc(sizeof *c);
    if (!c) {
        bio_person_free(p);
        return ST_NOMEM;
    }
    bio_codes_of(p, c);
    pthread_rwlock_wrlock(&ix->lock);
    int rc = insert_locked(ix, subject, c);
    uint64_t gen = ix->generation;
    pthread_rwlock_unlock(&ix->lock);
    free(c);
    ring_drop(ix, subject);
    struct recent *r = &ix->ring[ix->ring_next++ % IX_RECENT];
    bio_person_free(r->p);
    r->gen = gen;
    snprintf(r->subject, sizeof r->subject, "%s", subject);
    r->p = p;
    return rc;
}

int bioindex_add(struct bioindex *ix, const char *subject, struct bio_person *p)
{
    pthread_mutex_lock(&ix->claims_lock);
    int rc = add_recent_locked(ix, subject, p);
    pthread_mutex_unlock(&ix->claims_lock);
    return rc;
}

/* ---- candidates ------------------------------------------------------------------------- */

/* Band, then finger score, then face score: true when a ranks before b. */
static bool better(const struct bio_candidate *a, const struct bio_candidate *b)
{
    if (a->band != b->band)
        return a->band > b->band;
    if (a->scores.finger != b->scores.finger)
        return a->scores.finger > b->scores.finger;
    return a->scores.face > b->scores.face;
}

/* Puts a candidate in its place in r (a subject at most once, at most max). */
static void offer(struct bio_result *r, unsigned max, const char *subject,
                  const struct bio_scores *s, enum bio_band band)
{
    struct bio_candidate c = {.scores = *s, .band = band};
    snprintf(c.subject, sizeof c.subject, "%s", subject);
    for (unsigned i = 0; i < r->n; i++)
        if (strcmp(r->c[i].subject, subject) == 0)
            return;
    if (max > BIO_MAX_CANDIDATES)
        max = BIO_MAX_CANDIDATES;
    unsigned at = r->n;
    while (at > 0 && better(&c, &r->c[at - 1]))
        at--;
    if (at >= max)
        return;
    unsigned n = r->n < max ? r->n + 1 : max;
    memmove(&r->c[at + 1], &r->c[at], sizeof c * (n - 1 - at));
    r->c[at] = c;
    r->n = n;
}

/* Compares the probe with a stored subject and offers it. */
static int compare_subject(const struct bio_query *q, const char *subject, struct bio_result *r,
                           struct st_err *err)
{
    struct biometrics *b = malloc(sizeof *b);
    if (!b)
        return ST_NOMEM;
    int rc = q->fetch(q->ctx, subject, b);
    struct bio_person *p = NULL;
    if (rc == ST_OK)
        rc = bio_person_new(b, &p, err);
    explicit_bzero(b, sizeof *b);
    free(b);
    if (rc == ST_NOT_FOUND)
        return ST_OK; /* removed since the shortlist was drawn */
    if (rc != ST_OK)
        return rc;
    struct bio_scores s;
    bio_compare(q->probe, p, &s);
    bio_person_free(p);
    enum bio_band band = bio_band_of(&s, q->thresholds);
    r->compared++;
    if (band >= q->min_band && band > BIO_BAND_NONE)
        offer(r, q->max, subject, &s, band);
    return ST_OK;
}

/* ---- the shortlist (read lock held) ----------------------------------------------------- */

struct ranked {
    uint32_t slot;
    float value; /* larger is better */
};

/* Keeps the k best in a min-heap (h[0] the worst kept). */
static void heap_offer(struct ranked *h, unsigned *n, unsigned k, uint32_t slot, float value)
{
    if (*n == k && value <= h[0].value)
        return;
    unsigned i;
    if (*n < k) {
        i = (*n)++;
        while (i > 0 && h[(i - 1) / 2].value > value) {
            h[i] = h[(i - 1) / 2];
            i = (i - 1) / 2;
        }
    } else {
        i = 0;
        for (;;) {
            unsigned c = 2 * i + 1;
            if (c >= k)
                break;
            if (c + 1 < k && h[c + 1].value < h[c].value)
                c++;
            if (h[c].value >= value)
                break;
            h[i] = h[c];
            i = c;
        }
    }
    h[i] = (struct ranked){slot, value};
}

/* Per-thread vote counting, kept between searches (cleared where used) so
 * that a search costs what it votes, not what the gallery holds; freed when
 * the thread ends.  Votes go to cells (slot, rotation bin, translation cell)
 * in an open-addressing table; a finger's score per slot is its best cell. */
struct scratch {
    uint32_t cap;     /* slots */
    uint16_t *best;   /* per slot: the best cell of the current finger */
    float *score;     /* per slot: the sum over fingers of the best cell */
    uint32_t *hit;    /* slots voted for by the current finger */
    uint32_t *scored; /* slots with a score */
    uint32_t nhit, nscored;
    uint64_t *key; /* cell + 1; 0 empty */
    uint16_t *count;
    uint32_t *used;
    uint32_t tcap, tn;
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *v)
{
    struct scratch *s = v;
    if (!s)
        return;
    free(s->best);
    free(s->score);
    free(s->hit);
    free(s->scored);
    free(s->key);
    free(s->count);
    free(s->used);
    free(s);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

static int table_alloc(struct scratch *s, uint32_t cap)
{
    s->key = calloc(cap, sizeof *s->key);
    s->count = malloc(sizeof *s->count * cap);
    s->used = malloc(sizeof *s->used * cap);
    s->tcap = cap;
    s->tn = 0;
    return s->key && s->count && s->used ? ST_OK : ST_NOMEM;
}

static struct scratch *scratch_for(uint32_t nslots)
{
    pthread_once(&scratch_once, scratch_key_init);
    struct scratch *s = pthread_getspecific(scratch_key);
    if (s && s->cap >= nslots)
        return s;
    scratch_free(s);
    pthread_setspecific(scratch_key, NULL);
    s = calloc(1, sizeof *s);
    uint32_t cap = nslots < 1024 ? 1024 : nslots + nslots / 2;
    if (s) {
        s->cap = cap;
        s->best = calloc(cap, sizeof *s->best);
        s->score = calloc(cap, sizeof *s->score);
        s->hit = malloc(sizeof *s->hit * cap);
        s->scored = malloc(sizeof *s->scored * cap);
    }
    if (!s || !s->best || !s->score || !s->hit || !s->scored || table_alloc(s, 1u << 16)) {
        scratch_free(s);
        return NULL;
    }
    pthread_setspecific(scratch_key, s);
    return s;
}

static uint32_t cell_at(const struct scratch *s, uint64_t cell)
{
    uint32_t mask = s->tcap - 1, i = (uint32_t)((cell * 0x9e3779b97f4a7c15ull) >> 32) & mask;
    while (s->key[i] && s->key[i] != cell + 1)
        i = (i + 1) & mask;
    return i;
}

static int table_grow(struct scratch *s)
{
    struct scratch old = *s;
    if (table_alloc(s, old.tcap * 2) != ST_OK) {
        free(s->key), free(s->count), free(s->used);
        s->key = old.key, s->count = old.count, s->used = old.used;
        s->tcap = old.tcap, s->tn = old.tn;
        return ST_NOMEM;
    }
    for (uint32_t u = 0; u < old.tn; u++) {
        uint32_t from = old.used[u], to = cell_at(s, old.key[from] - 1);
        s->key[to] = old.key[from];
        s->count[to] = old.count[from];
        s->used[s->tn++] = to;
    }
    free(old.key), free(old.count), free(old.used);
    return ST_OK;
}

static int vote(struct scratch *s, uint64_t cell)
{
    if (s->tn * 2 >= s->tcap && table_grow(s) != ST_OK)
        return ST_NOMEM;
    uint32_t i = cell_at(s, cell);
    if (!s->key[i]) {
        s->key[i] = cell + 1;
        s->count[i] = 0;
        s->used[s->tn++] = i;
    }
    if (s->count[i] < UINT16_MAX)
        s->count[i]++;
    return ST_OK;
}

static float turns[256][2]; /* cos, sin of k/256 turns */
static pthread_once_t turns_once = PTHREAD_ONCE_INIT;

static void turns_init(void)
{
    for (unsigned k = 0; k < 256; k++) {
        double a = 2.0 * M_PI * k / 256.0;
        turns[k][0] = (float)cos(a);
        turns[k][1] = (float)sin(a);
    }
}

/* The cells a meeting of probe triangle t and gallery entry v votes for:
 * the rotation's bin and the nearer neighbouring one, at the translation's
 * cell (so that a mated finger's meetings, which scatter a little in
 * rotation, still share one). */
static unsigned meeting_cells(const struct bio_triplet *t, uint64_t v, uint64_t cells[2])
{
    unsigned gref = (unsigned)(v >> 28) & 255;
    float gx = (float)((int)((v >> 14) & 0x3fff) - 8192), gy = (float)((int)(v & 0x3fff) - 8192);
    unsigned rot = (t->ref - gref) & 255;
    float c = turns[rot][0], s = turns[rot][1];
    float tx = (float)t->cx - (c * gx - s * gy), ty = (float)t->cy - (s * gx + c * gy);
    unsigned x = (unsigned)((int)floorf(tx / IX_SHIFT_CELL) + 16) & 31;
    unsigned y = (unsigned)((int)floorf(ty / IX_SHIFT_CELL) + 16) & 31;
    unsigned bin = rot >> 4,
             near = ((rot & 15) < 8 ? bin + IX_ROT_BINS - 1 : bin + 1) % IX_ROT_BINS;
    uint64_t base = (v >> 40) << 18 | x << 5 | y;
    cells[0] = base | (uint64_t)bin << 10;
    cells[1] = base | (uint64_t)near << 10;
    return 2;
}

/* Votes of one probe finger: each meeting with a gallery triangle of the
 * same position votes for the rotation and translation it implies. */
static int vote_finger(const struct bioindex *ix, const struct mcc_finger *f, struct scratch *s,
                       struct bio_result *r)
{
    static _Thread_local struct bio_triplet t[BIO_PROBE_TRIPLETS];
    pthread_once(&turns_once, turns_init);
    unsigned n = bio_probe_triplets(f, t, BIO_PROBE_TRIPLETS);
    float crowded = IX_CROWDED * (float)ix->entries / IX_BUCKETS + 64;
    for (unsigned i = 0; i < n; i++) {
        const struct bucket *b = &ix->buckets[bucket_of(t[i].key, f->position)];
        if (b->n == 0 || (float)b->n > crowded)
            continue;
        r->postings += b->n;
        for (uint32_t e = 0; e < b->n; e++) {
            uint64_t v = b->v[e], cells[2];
            if ((v >> 36 & 15) != f->position || !ix->slots[v >> 40].live)
                continue;
            unsigned k = meeting_cells(&t[i], v, cells);
            for (unsigned c = 0; c < k; c++)
                if (vote(s, cells[c]) != ST_OK)
                    return ST_NOMEM;
        }
    }
    return ST_OK;
}

/* Adds each voted slot's best cell to its score and clears the cells. */
static void keep_best_cell(struct scratch *s)
{
    for (uint32_t u = 0; u < s->tn; u++) {
        uint32_t i = s->used[u], slot = (uint32_t)((s->key[i] - 1) >> 18);
        if (s->best[slot] == 0)
            s->hit[s->nhit++] = slot;
        if (s->count[i] > s->best[slot])
            s->best[slot] = s->count[i];
        s->key[i] = 0;
    }
    s->tn = 0;
    for (uint32_t h = 0; h < s->nhit; h++) {
        uint32_t slot = s->hit[h];
        if (s->score[slot] == 0.0f)
            s->scored[s->nscored++] = slot;
        s->score[slot] += s->best[slot];
        s->best[slot] = 0;
    }
    s->nhit = 0;
}

static int finger_shortlist(const struct bioindex *ix, const struct bio_person *p, struct ranked *h,
                            unsigned *nh, struct bio_result *r)
{
    *nh = 0;
    if (p->nfingers == 0 || ix->nslots == 0)
        return ST_OK;
    struct scratch *s = scratch_for(ix->nslots);
    if (!s)
        return ST_NOMEM;
    int rc = ST_OK;
    for (unsigned f = 0; f < p->nfingers; f++) {
        if (rc == ST_OK)
            rc = vote_finger(ix, p->finger[f], s, r);
        keep_best_cell(s);
    }
    for (uint32_t i = 0; i < s->nscored; i++) {
        uint32_t slot = s->scored[i];
        heap_offer(h, nh, IX_FINGER_LIST, slot, s->score[slot]);
        s->score[slot] = 0.0f;
    }
    s->nscored = 0;
    return rc;
}

static inline __attribute__((always_inline)) unsigned hamming(const uint64_t *a, const uint64_t *b,
                                                              unsigned words)
{
    unsigned d = 0;
    for (unsigned w = 0; w < words; w++)
        d += (unsigned)__builtin_popcountll(a[w] ^ b[w]);
    return d;
}

static inline __attribute__((always_inline)) void scan_faces(const struct bioindex *ix,
                                                             const uint64_t *code, int model,
                                                             uint16_t dim, struct ranked *h,
                                                             unsigned *nh)
{
    unsigned words = (dim + 63u) / 64u;
    for (uint32_t s = 0; s < ix->nslots; s++) {
        const struct slot *sl = &ix->slots[s];
        if (!sl->live || sl->model != model || sl->face_dim != dim)
            continue;
        unsigned d = hamming(code, ix->faces + (size_t)s * BIO_FACE_WORDS, words);
        heap_offer(h, nh, IX_FACE_LIST, s, -(float)d);
    }
}

#if defined(__x86_64__)
__attribute__((target("popcnt")))
#endif
static void
scan_faces_popcnt(const struct bioindex *ix, const uint64_t *code, int model, uint16_t dim,
                  struct ranked *h, unsigned *nh)
{
    scan_faces(ix, code, model, dim, h, nh);
}

static void face_shortlist(const struct bioindex *ix, const struct bio_person *p, struct ranked *h,
                           unsigned *nh)
{
    *nh = 0;
    if (!p->face)
        return;
    int model = -1;
    for (unsigned i = 0; i < ix->nmodels; i++)
        if (strcmp(ix->models[i], p->face_model) == 0)
            model = (int)i;
    if (model < 0)
        return;
    uint64_t code[BIO_FACE_WORDS] = {0};
    for (unsigned i = 0; i < p->face_dim; i++)
        if (p->face[i] > 0.0f)
            code[i / 64] |= 1ull << (i % 64);
    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt"))
        scan_faces_popcnt(ix, code, model, p->face_dim, h, nh);
    else
        scan_faces(ix, code, model, p->face_dim, h, nh);
}

/* The subjects to compare in full, copied out under the read lock. */
static int shortlist(struct bioindex *ix, const struct bio_person *p,
                     char (*out)[BIO_SUBJECT_MAX + 1], unsigned *n, struct bio_result *r)
{
    struct ranked fh[IX_FINGER_LIST], gh[IX_FACE_LIST];
    unsigned nf, ng;
    pthread_rwlock_rdlock(&ix->lock);
    r->generation = ix->generation;
    int rc = finger_shortlist(ix, p, fh, &nf, r);
    face_shortlist(ix, p, gh, &ng);
    *n = 0;
    for (unsigned i = 0; rc == ST_OK && i < nf + ng; i++) {
        uint32_t slot = i < nf ? fh[i].slot : gh[i - nf].slot;
        const char *subject = ix->slots[slot].subject;
        bool dup = false;
        for (unsigned k = 0; k < *n && !dup; k++)
            dup = strcmp(out[k], subject) == 0;
        if (!dup)
            memcpy(out[(*n)++], subject, BIO_SUBJECT_MAX + 1);
    }
    pthread_rwlock_unlock(&ix->lock);
    r->finger_listed = nf;
    r->face_listed = ng;
    return rc;
}

int bioindex_search(struct bioindex *ix, const struct bio_query *q, struct bio_result *r,
                    struct st_err *err)
{
    memset(r, 0, sizeof *r);
    static _Thread_local char list[IX_FINGER_LIST + IX_FACE_LIST][BIO_SUBJECT_MAX + 1];
    unsigned n;
    int rc = shortlist(ix, q->probe, list, &n, r);
    for (unsigned i = 0; rc == ST_OK && i < n; i++) {
        if (q->exclude && strcmp(list[i], q->exclude) == 0)
            continue;
        rc = compare_subject(q, list[i], r, err);
    }
    return rc;
}

/* ---- claims ---------------------------------------------------------------------------- */

static bool claim_matches(const struct bio_query *q, const struct bio_claim *c)
{
    struct bio_scores s;
    bio_compare(q->probe, c->probe, &s);
    enum bio_band band = bio_band_of(&s, q->thresholds);
    return band >= q->min_band && band > BIO_BAND_NONE;
}

int bioindex_claim(struct bioindex *ix, const struct bio_query *q, struct bio_result *r,
                   struct bio_claim **out)
{
    *out = NULL;
    struct bio_claim *c = calloc(1, sizeof *c);
    if (!c)
        return ST_NOMEM;
    pthread_mutex_lock(&ix->claims_lock);
    for (;;) {
        bool wait = false;
        for (struct bio_claim *o = ix->claims; o && !wait; o = o->next)
            wait = claim_matches(q, o);
        if (!wait)
            break;
        pthread_cond_wait(&ix->settled, &ix->claims_lock);
    }
    if (ix->generation - r->generation > IX_RECENT) {
        pthread_mutex_unlock(&ix->claims_lock);
        free(c);
        r->stale = true;
        return ST_OK;
    }
    for (unsigned i = 0; i < IX_RECENT; i++) {
        const struct recent *e = &ix->ring[i];
        if (!e->p || e->gen <= r->generation)
            continue;
        struct bio_scores s;
        bio_compare(q->probe, e->p, &s);
        enum bio_band band = bio_band_of(&s, q->thresholds);
        r->compared++;
        if (band >= q->min_band && band > BIO_BAND_NONE &&
            !(q->exclude && strcmp(e->subject, q->exclude) == 0))
            offer(r, q->max, e->subject, &s, band);
    }
    c->probe = (struct bio_person *)q->probe;
    c->next = ix->claims;
    ix->claims = c;
    pthread_mutex_unlock(&ix->claims_lock);
    *out = c;
    return ST_OK;
}

int bioindex_settle(struct bioindex *ix, struct bio_claim *c, const char *subject)
{
    if (!c)
        return ST_OK;
    pthread_mutex_lock(&ix->claims_lock);
    for (struct bio_claim **p = &ix->claims; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    int rc = ST_OK;
    if (subject)
        rc = add_recent_locked(ix, subject, c->probe);
    else
        bio_person_free(c->probe);
    pthread_cond_broadcast(&ix->settled);
    pthread_mutex_unlock(&ix->claims_lock);
    free(c);
    return rc;
}
