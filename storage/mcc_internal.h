/*
 * storage/mcc_internal.h - what the files of the fingerprint matcher and the
 * biometric index share and nobody else sees: the cylinder geometry, the
 * prepared finger, and the person (fingers and face) as the index holds it.
 *
 *   mcc.c           a finger record -> cylinders (Minutia Cylinder-Code)
 *   mcc_match.c     two fingers -> a score (local similarities, LSS-R)
 *   mcc_person.c    a person's biometrics -> scores, fusion, bands
 *   mcc_synth.c     synthetic fingers and faces
 *   bioindex*.c     the 1:N index
 *
 * The algorithm and its parameters are those of R. Cappelli, M. Ferrara and
 * D. Maltoni, "Minutia Cylinder-Code: a new representation and matching
 * technique for fingerprint recognition", IEEE TPAMI 32(12), 2010, in its
 * bit-based form; docs/biometrics.md gives the parameters and where this
 * implementation departs from the paper.
 */
#ifndef HUDUMA_MCC_INTERNAL_H
#define HUDUMA_MCC_INTERNAL_H

#include "storage/storage.h"

#include <stdbool.h>
#include <stdint.h>

/* Cylinder geometry (the paper's names).  A cylinder has MCC_NS x MCC_NS cells
 * of side 2R/NS around its minutia, MCC_ND angular sections each; only the
 * cells whose centre lies within R (mcc_cells(): 52 of 64 for NS = 8) can
 * ever be valid, and only those are stored: one bit per cell, a run of
 * MCC_CELL_WORDS words per section, so that the mask of valid cells, one run
 * of words, applies to every section alike. */
#ifndef MCC_NS
#define MCC_NS 8
#endif
#ifndef MCC_ND
#define MCC_ND 6
#endif
#define MCC_R          70.0f /* pixels at 500 dpi */
#define MCC_MAX_CELLS  (MCC_NS * MCC_NS)
#define MCC_CELL_WORDS ((MCC_MAX_CELLS + 63) / 64)
#define MCC_MAX_BITS   (MCC_CELL_WORDS * 64 * MCC_ND)

/* Minutiae kept per finger: records with more keep the first ones. */
#define MCC_MAX_MINUTIAE 128

/* Angles are 16-bit fractions of a turn: differences wrap by themselves. */
typedef uint16_t mcc_angle;

struct mcc_cylinder {
    uint64_t cells[MCC_CELL_WORDS];        /* the valid cells */
    uint64_t bits[MCC_ND][MCC_CELL_WORDS]; /* per section; only valid cells set */
};

/*
 * A prepared finger.  Only minutiae whose cylinder is valid take part in
 * matching; x, y, theta and the pair tables are theirs, in cylinder order.
 *   dist[i * n + j]    distance between minutiae i and j, in 1/8 pixel
 *   radial[i * n + j]  direction from i to j, relative to i's direction
 *   lanes              the cylinders again, 8 at a time and word by word
 *                      (MCC_LANE_WORDS words of lane 0-7 each), zero past n,
 *                      for the vector kernel of mcc_simd.c
 */
#define MCC_LANES      8
#define MCC_LANE_WORDS ((1 + MCC_ND) * MCC_CELL_WORDS)
struct mcc_finger {
    uint8_t position;
    uint16_t n; /* valid cylinders */
    uint16_t minutiae;
    float *x, *y;
    mcc_angle *theta;
    uint16_t *dist;
    mcc_angle *radial;
    struct mcc_cylinder *cyl;
    uint64_t *lanes;
    /* every minutia kept (valid cylinder or not), for the index's triangles */
    uint16_t nall;
    float *ax, *ay;
    mcc_angle *atheta;
};

/* A pair of cylinders and their local similarity. */
struct mcc_pair {
    uint8_t a, b;
    uint8_t key; /* similarity * 255, for sorting */
    float lambda;
};

/* The local similarities of every two cylinders of a and b whose directions
 * differ by at most delta_theta and whose similarity is positive, into out
 * (room for a->n * b->n); returns how many.  The AVX-512 kernel, for CPUs
 * with VPOPCNTDQ; mcc_match.c checks the CPU before calling it. */
unsigned mcc_similarities_avx512(const struct mcc_finger *a, const struct mcc_finger *b,
                                 unsigned min_common, struct mcc_pair *out);
/* The same, one pair at a time, on any CPU (tests compare the two). */
unsigned mcc_similarities_portable(const struct mcc_finger *a, const struct mcc_finger *b,
                                   struct mcc_pair *out);
/* The minimum of common valid cells (minME of the cells), and whether the CPU
 * runs the AVX-512 kernel. */
unsigned mcc_min_common(void);
bool mcc_has_avx512(void);

/* A person's biometrics, prepared (mcc_person.c): fingers in the order given,
 * the face scaled to unit length (NULL when none). */
struct bio_person {
    unsigned nfingers;
    struct mcc_finger *finger[PERSON_MAX_FINGERS];
    char face_model[ID_MAX_LEN + 1];
    uint16_t face_dim;
    float *face;
};

/* What the index keeps of a person (bioindex*.c): per finger the triangle
 * keys of its most central minutiae (bioindex_keys.c), and the signs of the
 * face embedding. */
#define BIO_CENTRAL             32 /* central minutiae whose triangles a finger files */
#define BIO_TRIPLETS_PER_FINGER 96
#define BIO_PROBE_TRIPLETS      8192
#define BIO_FACE_WORDS          (FACE_MAX_DIM / 64)

struct bio_triplet {
    uint32_t key;   /* 21 bits: three side bins, three direction bins */
    uint8_t ref;    /* direction of the longest side, 1/256 turns */
    int16_t cx, cy; /* the triangle's centre from the finger's centroid, pixels */
};

struct bio_codes {
    unsigned nfingers;
    struct {
        uint8_t position;
        uint8_t n;
        struct bio_triplet t[BIO_TRIPLETS_PER_FINGER];
    } finger[PERSON_MAX_FINGERS];
    char face_model[ID_MAX_LEN + 1]; /* empty: no face */
    uint16_t face_dim;
    uint64_t face[BIO_FACE_WORDS];
};

/* A gallery finger's triangles; a probe's, with the neighbouring bins of
 * features near a bin's edge (several keys per triangle). */
unsigned bio_gallery_triplets(const struct mcc_finger *f, struct bio_triplet *out, unsigned max);
unsigned bio_probe_triplets(const struct mcc_finger *f, struct bio_triplet *out, unsigned max);

/* The gallery codes of a prepared person. */
void bio_codes_of(const struct bio_person *p, struct bio_codes *c);
/* The persisted form (bioindex_store.c): at most BIO_CODES_MAX bytes. */
#define BIO_CODES_MAX                                                                              \
    (2 + PERSON_MAX_FINGERS * (2 + BIO_TRIPLETS_PER_FINGER * 8) + 1 + ID_MAX_LEN + 2 +             \
     FACE_MAX_DIM / 8)
size_t bio_codes_encode(const struct bio_codes *c, uint8_t *out);
int bio_codes_decode(const uint8_t *in, size_t len, struct bio_codes *c);
/* An empty index over a store, its store, and adding a subject's codes to it
 * (replacing any entry the subject had): bioindex.c; loading calls these. */
struct bioindex *bioindex_new(struct store *st);
struct store *bioindex_store(struct bioindex *ix);
int bioindex_insert(struct bioindex *ix, const char *subject, const struct bio_codes *c);

/* The cosine of two unit-length embeddings. */
float bio_face_cosine(const float *a, const float *b, unsigned dim);

/* The number of cells within R of the centre (set up once, thread-safe). */
unsigned mcc_cells(void);

/* Builds the cylinders of the first view of an ISO record (with
 * `cylinders` false, only the minutiae: enough for the index's keys, at a
 * tenth of the cost). */
int mcc_finger_build(const uint8_t *iso, size_t len, uint8_t position, bool cylinders,
                     struct mcc_finger **out, struct st_err *err);
/* A person prepared for the index's keys only (no cylinders, so no matching). */
int bio_person_points(const struct biometrics *b, struct bio_person **out, struct st_err *err);

/* Builds from minutiae given directly (synthetic fingers, tests): x, y in
 * pixels at 500 dpi, theta in 16-bit turns. */
int mcc_finger_from_points(const float *x, const float *y, const mcc_angle *theta, unsigned n,
                           uint8_t position, struct mcc_finger **out);

#endif
