/* Tests of core: errors, allocation, RNG, threads, files, crypto, HDF5, strict YAML and the
 * typed config loader's error paths. */
#include "core/core.h"
#include "tests/runner.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static char *tmp_file(const char *name, const char *text)
{
    char *p = core_sprintf("%s/%s", tmpdir, name);
    if (text) {
        FILE *f = fopen(p, "w");
        fputs(text, f);
        fclose(f);
    }
    return p;
}

/* ---------------------------------------------------------------- errors and alloc */

static void test_error_message_names_object_and_keeps_code(void)
{
    core_status st = CORE_ERR(CORE_ERR_IO, "%s: cannot open", "x.yaml");
    CHECK_EQ_INT(st, CORE_ERR_IO);
    CHECK_STR(core_error_message(), "x.yaml: cannot open");
    CHECK_CONTAINS(core_error_site(), "tests/test_core.c:");
    core_error_prefix("loading %s", "roles");
    CHECK_STR(core_error_message(), "loading roles: x.yaml: cannot open");
    CHECK_STR(core_status_name(CORE_ERR_SCHEMA), "SCHEMA");
}

static void test_alloc_refuses_overflowing_size(void)
{
    void *p = core_alloc(SIZE_MAX / 2, 4, "huge table");
    CHECK(p == NULL);
    CHECK_EQ_INT(core_error_code(), CORE_ERR_NOMEM);
    CHECK_CONTAINS(core_error_message(), "huge table");
    size_t out = 0;
    CHECK(core_mul_overflows(SIZE_MAX, 2, &out));
    CHECK(!core_mul_overflows(1000, 1000, &out) && out == 1000000);
}

/* ---------------------------------------------------------------- RNG and threads */

static void test_philox_matches_random123_known_answers(void)
{
    /* Random123 kat_vectors, philox4x32 10 */
    static const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                                       {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                                       {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}};
    static const uint32_t key[3][2] = {{0, 0}, {0xffffffff, 0xffffffff}, {0xa4093822, 0x299f31d0}};
    static const uint32_t want[3][4] = {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
                                        {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
                                        {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        core_philox4x32(out, ctr[i], key[i]);
        for (int j = 0; j < 4; j++)
            CHECK_EQ_INT(out[j], want[i][j]);
    }
}

static void test_rng_streams_differ_by_purpose_and_repeat_by_seed(void)
{
    core_rng a, b, c;
    core_rng_init(&a, 42, "persona.expand");
    core_rng_init(&b, 42, "persona.expand");
    core_rng_init(&c, 42, "train.dropout");
    int same_ab = 0, same_ac = 0;
    for (int i = 0; i < 100; i++) {
        uint32_t x = core_rng_u32(&a), y = core_rng_u32(&b), z = core_rng_u32(&c);
        same_ab += x == y;
        same_ac += x == z;
    }
    CHECK_EQ_INT(same_ab, 100);
    CHECK(same_ac < 3);
    core_rng f1 = core_rng_fork(&a, 7), f2 = core_rng_fork(&a, 7), f3 = core_rng_fork(&a, 8);
    uint64_t x = core_rng_u64(&f1);
    CHECK(x == core_rng_u64(&f2));
    CHECK(x != core_rng_u64(&f3));
}

static void test_rng_distributions_have_expected_moments(void)
{
    core_rng r;
    core_rng_init(&r, 1, "test.moments");
    double su = 0, sn = 0, sn2 = 0;
    int counts[10] = {0};
    const int n = 200000;
    for (int i = 0; i < n; i++) {
        double u = core_rng_uniform(&r);
        CHECK(u >= 0 && u < 1);
        su += u;
        double g = core_rng_normal(&r);
        sn += g;
        sn2 += g * g;
        counts[core_rng_below(&r, 10)]++;
    }
    CHECK_NEAR(su / n, 0.5, 0.005);
    CHECK_NEAR(sn / n, 0.0, 0.01);
    CHECK_NEAR(sn2 / n, 1.0, 0.02);
    for (int k = 0; k < 10; k++)
        CHECK_NEAR(counts[k], n / 10.0, n / 10.0 * 0.05);
}

typedef struct fill_ctx {
    core_rng base;
    double *out;
} fill_ctx;

static void fill_range(void *vctx, size_t begin, size_t end, int tid)
{
    fill_ctx *c = vctx;
    for (size_t i = begin; i < end; i++) {
        core_rng r = core_rng_fork(&c->base, i);
        c->out[i] = core_rng_normal(&r) + core_rng_uniform(&r);
    }
}

static void test_rng_results_do_not_depend_on_thread_count(void)
{
    const size_t n = 10007;
    double *ref = malloc(n * sizeof *ref), *got = malloc(n * sizeof *got);
    fill_ctx c;
    core_rng_init(&c.base, 123, "test.threads");
    c.out = ref;
    CHECK_EQ_INT(core_parallel_for(n, 1, fill_range, &c), CORE_OK);
    const int counts[] = {2, 3, 7, 16};
    for (size_t k = 0; k < sizeof counts / sizeof *counts; k++) {
        memset(got, 0, n * sizeof *got);
        c.out = got;
        CHECK_EQ_INT(core_parallel_for(n, counts[k], fill_range, &c), CORE_OK);
        CHECK(memcmp(ref, got, n * sizeof *ref) == 0);
    }
    free(ref);
    free(got);
}

/* ---------------------------------------------------------------- files and crypto */

static void test_atomic_write_replaces_whole_file_and_leaves_no_temp(void)
{
    char *p = tmp_file("atomic.txt", "old contents");
    CHECK_EQ_INT(core_file_write_atomic(p, "new", 3), CORE_OK);
    char *text;
    size_t n;
    CHECK_EQ_INT(core_file_read(p, 0, &text, &n), CORE_OK);
    CHECK_EQ_INT(n, 3);
    CHECK_STR(text, "new");
    free(text);
    CHECK_EQ_INT(core_file_read(p, 2, &text, &n), CORE_ERR_LIMIT);
    CHECK_CONTAINS(core_error_message(), "atomic.txt");
    char *bad = core_sprintf("%s/no/such/dir/file", tmpdir);
    CHECK_EQ_INT(core_file_write_atomic(bad, "x", 1), CORE_ERR_IO);
    CHECK_CONTAINS(core_error_message(), "no/such/dir/file");
    char *cmd = core_sprintf("ls -a %s | grep -c tmp", tmpdir);
    FILE *f = popen(cmd, "r");
    int count = -1;
    CHECK(fscanf(f, "%d", &count) == 1);
    pclose(f);
    CHECK_EQ_INT(count, 0);
    free(cmd);
    free(bad);
    free(p);
}

static void test_sha256_and_ed25519_match_published_vectors(void)
{
    CHECK_EQ_INT(core_crypto_init(), CORE_OK);
    uint8_t h[32];
    char hex[CORE_SHA256_HEX];
    core_sha256(h, "abc", 3);
    core_hex(hex, h, 32);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    char *p = tmp_file("abc.txt", "abc");
    uint64_t bytes = 0;
    memset(h, 0, sizeof h);
    CHECK_EQ_INT(core_sha256_file(p, h, &bytes), CORE_OK);
    core_hex(hex, h, 32);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_EQ_INT(bytes, 3);
    free(p);
    /* RFC 8032 section 7.1, test 1 (empty message) */
    uint8_t seed[32], pk[32], sk[64], sig[64];
    CHECK(core_unhex(seed, 32, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
    CHECK_EQ_INT(core_ed25519_keypair(pk, sk, seed), CORE_OK);
    core_hex(hex, pk, 32);
    CHECK_STR(hex, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    core_ed25519_sign(sig, "", 0, sk);
    char sighex[129];
    core_hex(sighex, sig, 64);
    CHECK_STR(sighex, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a3"
                      "3bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    CHECK(core_ed25519_verify(sig, "", 0, pk));
    sig[5] ^= 1;
    CHECK(!core_ed25519_verify(sig, "", 0, pk));
    CHECK(!core_unhex(seed, 32, "XYZ"));
    char *b64 = core_base64_encode("hello", 5);
    CHECK_STR(b64, "aGVsbG8=");
    uint8_t *dec;
    size_t dn;
    CHECK_EQ_INT(core_base64_decode(b64, &dec, &dn), CORE_OK);
    CHECK(dn == 5 && !memcmp(dec, "hello", 5));
    free(dec);
    free(b64);
    CHECK_EQ_INT(core_base64_decode("a$b=", &dec, &dn), CORE_ERR_PARSE);
}

static void test_metrics_writes_one_json_object_per_line(void)
{
    char *p = tmp_file("metrics.jsonl", NULL);
    core_metrics *m = core_metrics_open(p);
    CHECK(m != NULL);
    for (int step = 0; step < 3; step++) {
        json_t *r = json_pack("{s:i, s:f, s:s}", "step", step, "loss", 2.5 / (step + 1), "phase",
                              "sft");
        CHECK_EQ_INT(core_metrics_write(m, r), CORE_OK);
        json_decref(r);
    }
    CHECK_EQ_INT(core_metrics_close(m), CORE_OK);
    FILE *f = fopen(p, "r");
    char line[256];
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        json_error_t err;
        json_t *r = json_loads(line, 0, &err);
        CHECK(r && json_integer_value(json_object_get(r, "step")) == n);
        CHECK_STR(json_string_value(json_object_get(r, "phase")), "sft");
        json_decref(r);
        n++;
    }
    if (f)
        fclose(f);
    CHECK_EQ_INT(n, 3);
    char *bad = core_sprintf("%s/missing/dir/m.jsonl", tmpdir);
    CHECK(core_metrics_open(bad) == NULL);
    CHECK_EQ_INT(core_error_code(), CORE_ERR_IO);
    CHECK_CONTAINS(core_error_message(), "missing/dir/m.jsonl: cannot create metrics file");
    free(bad);
    free(p);
}

/* ---------------------------------------------------------------- HDF5 */

static core_status write_sample_h5(const char *path)
{
    core_h5_out out;
    core_status st = core_h5_create(&out, path);
    if (st != CORE_OK)
        return st;
    float data[6] = {1, 2, 3, 4, 5, 6};
    hsize_t dims[2] = {3, 2}, chunk[2] = {2, 2};
    hid_t d = H5I_INVALID_HID, g = H5I_INVALID_HID;
    const char *names[] = {"alpha", "beta"};
    const char *inputs[] = {"sha256:00 in.yaml"};
    CORE_TRY(core_h5_write_header(out.file, "troupe.test/1", "a: 1\n", inputs, 1));
    CORE_TRY(core_h5_write(out.file, "/x", CORE_H5_F32, 2, dims, data));
    CORE_TRY(core_h5_create_dataset(out.file, "/g/rows", CORE_H5_I64, 2, dims, chunk, 1, &d));
    int64_t rows[6] = {10, 11, 12, 13, 14, 15};
    CORE_TRY(core_h5_write_rows(d, CORE_H5_I64, 1, 2, rows + 2));
    CORE_TRY(core_h5_write_rows(d, CORE_H5_I64, 0, 1, rows));
    CORE_TRY(core_h5_group(out.file, "/meta/deep", &g));
    CORE_TRY(core_h5_attr_set_strs(g, "names", names, 2));
    CORE_TRY(core_h5_attr_set_i64(g, "count", 42));
done:
    if (d >= 0)
        H5Dclose(d);
    if (g >= 0)
        H5Gclose(g);
    if (st == CORE_OK)
        return core_h5_commit(&out);
    core_h5_abort(&out);
    return st;
}

static void test_h5_roundtrip_is_byte_identical_and_atomic(void)
{
    char *p1 = tmp_file("a.h5", NULL), *p2 = tmp_file("b.h5", NULL);
    CHECK_EQ_INT(write_sample_h5(p1), CORE_OK);
    CHECK_EQ_INT(write_sample_h5(p2), CORE_OK);
    char *b1, *b2;
    size_t n1, n2;
    CHECK_EQ_INT(core_file_read(p1, 0, &b1, &n1), CORE_OK);
    CHECK_EQ_INT(core_file_read(p2, 0, &b2, &n2), CORE_OK);
    CHECK(n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);

    hid_t f;
    CHECK_EQ_INT(core_h5_open(p1, &f), CORE_OK);
    CHECK_EQ_INT(core_h5_check_format(f, p1, "troupe.test/1"), CORE_OK);
    CHECK_EQ_INT(core_h5_check_format(f, p1, "troupe.shard/1"), CORE_ERR_FORMAT);
    CHECK_CONTAINS(core_error_message(), "troupe.test/1");
    int rank;
    hsize_t dims[8];
    float *x;
    CHECK_EQ_INT(core_h5_read(f, "/x", CORE_H5_F32, &rank, dims, (void **)&x), CORE_OK);
    CHECK(rank == 2 && dims[0] == 3 && dims[1] == 2 && x[5] == 6.0f);
    free(x);
    int64_t *rows;
    CHECK_EQ_INT(core_h5_read(f, "/g/rows", CORE_H5_I64, &rank, dims, (void **)&rows), CORE_OK);
    CHECK(rows[0] == 10 && rows[1] == 11 && rows[2] == 12 && rows[5] == 15);
    free(rows);
    char *cfg, **names;
    size_t nn;
    CHECK_EQ_INT(core_h5_attr_get_str(f, "config", &cfg), CORE_OK);
    CHECK_STR(cfg, "a: 1\n");
    free(cfg);
    hid_t g = H5Gopen2(f, "/meta/deep", H5P_DEFAULT);
    CHECK_EQ_INT(core_h5_attr_get_strs(g, "names", &names, &nn), CORE_OK);
    CHECK(nn == 2 && !strcmp(names[1], "beta"));
    core_strs_free(names, nn);
    int64_t count = 0;
    CHECK_EQ_INT(core_h5_attr_get_i64(g, "count", &count), CORE_OK);
    CHECK_EQ_INT(count, 42);
    H5Gclose(g);
    CHECK_EQ_INT(core_h5_read(f, "/missing", CORE_H5_F32, &rank, dims, (void **)&x), CORE_ERR_IO);
    CHECK_CONTAINS(core_error_message(), "missing");
    core_h5_close(f);

    /* An aborted file leaves nothing under its name, and the old file stays. */
    core_h5_out out;
    CHECK_EQ_INT(core_h5_create(&out, p1), CORE_OK);
    core_h5_abort(&out);
    CHECK_EQ_INT(core_h5_open(p1, &f), CORE_OK);
    core_h5_close(f);
    char *p3 = tmp_file("never.h5", NULL);
    CHECK_EQ_INT(core_h5_create(&out, p3), CORE_OK);
    core_h5_abort(&out);
    CHECK(access(p3, F_OK) != 0);
    /* Not HDF5: the message names the file. */
    char *txt = tmp_file("plain.h5", "not hdf5");
    CHECK_EQ_INT(core_h5_open(txt, &f), CORE_ERR_IO);
    CHECK_CONTAINS(core_error_message(), "plain.h5");
    free(txt);
    free(p1);
    free(p2);
    free(p3);
}

/* ---------------------------------------------------------------- strict YAML */

static core_status parse(const char *text, core_yaml_doc **doc)
{
    return core_yaml_parse("t.yaml", text, strlen(text), NULL, doc);
}

static void test_yaml_builds_tree_with_positions(void)
{
    core_yaml_doc *d;
    CHECK_EQ_INT(parse("a: 1\nb:\n  - x\n  - \"y\"\nc: ~\n", &d), CORE_OK);
    const core_yaml_node *r = core_yaml_root(d);
    CHECK_EQ_INT(r->kind, CORE_YAML_MAP);
    CHECK_EQ_INT(r->n, 3);
    const core_yaml_node *b = core_yaml_get(r, "b");
    CHECK(b && b->kind == CORE_YAML_SEQ && b->n == 2);
    CHECK(b && b->items[1]->quoted && !strcmp(b->items[1]->str, "y"));
    CHECK(b && b->items[1]->line == 4 && b->items[1]->col == 5);
    CHECK_EQ_INT(core_yaml_get(r, "c")->kind, CORE_YAML_NULL);
    core_yaml_free(d);
}

static void test_yaml_rejects_malformed_with_line_and_column(void)
{
    core_yaml_doc *d;
    CHECK_EQ_INT(parse("a: 1\nb: [1, 2\nc: 3\n", &d), CORE_ERR_PARSE);
    CHECK_CONTAINS(core_error_message(), "t.yaml:3:");
    CHECK(d == NULL);
    CHECK_EQ_INT(parse("a: 1\n  b: 2\n", &d), CORE_ERR_PARSE);
    CHECK_CONTAINS(core_error_message(), "t.yaml:2:");
    CHECK_EQ_INT(parse("a: \"\xff\xfe\"\n", &d), CORE_ERR_PARSE);
    CHECK_CONTAINS(core_error_message(), "t.yaml:1:");
}

static void test_yaml_rejects_duplicate_keys_anchors_tags_and_documents(void)
{
    core_yaml_doc *d;
    CHECK_EQ_INT(parse("a: 1\nb: 2\na: 3\n", &d), CORE_ERR_SCHEMA);
    CHECK_STR(core_error_message(), "t.yaml:3:1: duplicate key 'a' (first defined at line 1)");
    /* the large-map path */
    char big[4096] = "";
    for (int i = 0; i < 40; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "k%d: %d\n", i, i);
    strcat(big, "k7: again\n");
    CHECK_EQ_INT(parse(big, &d), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "t.yaml:41:1: duplicate key 'k7'");
    CHECK_EQ_INT(parse("a: &x 1\nb: *x\n", &d), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "t.yaml:1:4: anchors are not allowed");
    CHECK_EQ_INT(parse("a: !!int 1\n", &d), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "tags are not allowed");
    CHECK_EQ_INT(parse("a: 1\n---\nb: 2\n", &d), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "t.yaml:2:1: multiple YAML documents");
    CHECK_EQ_INT(parse("<<: {a: 1}\n", &d), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "merge keys");
}

static void test_yaml_refuses_alias_bomb_fast_with_flat_memory(void)
{
    /* "Billion laughs": nine levels of nine aliases each, ~387M strings if expanded. */
    char bomb[8192] =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
    for (char c = 'b'; c <= 'i'; c++) {
        char line[256];
        snprintf(line, sizeof line, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c, c - 1,
                 c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
        strcat(bomb, line);
    }
    struct rusage before, after;
    getrusage(RUSAGE_SELF, &before);
    double t0 = core_now();
    core_yaml_doc *d;
    for (int i = 0; i < 100; i++)
        CHECK_EQ_INT(parse(bomb, &d), CORE_ERR_SCHEMA);
    double dt = core_now() - t0;
    getrusage(RUSAGE_SELF, &after);
    CHECK_CONTAINS(core_error_message(), "anchors are not allowed");
    /* A refusal bound, not a benchmark: 100 refusals in under a second even on a loaded
     * machine, and no growth of resident memory beyond a few MB. */
    CHECK(dt < 1.0);
    CHECK(after.ru_maxrss - before.ru_maxrss < 8 * 1024);
}

static void test_yaml_enforces_depth_and_size_limits(void)
{
    char deep[512] = "";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    core_yaml_doc *d;
    CHECK_EQ_INT(parse(deep, &d), CORE_ERR_LIMIT);
    CHECK_CONTAINS(core_error_message(), "nested deeper than 64");
    core_yaml_limits lim = {.max_bytes = 10};
    CHECK_EQ_INT(core_yaml_parse("big.yaml", "a: 12345678901\n", 15, &lim, &d), CORE_ERR_LIMIT);
    CHECK_CONTAINS(core_error_message(), "big.yaml");
    char *missing = core_sprintf("%s/none.yaml", tmpdir);
    CHECK_EQ_INT(core_yaml_load(missing, NULL, &d), CORE_ERR_IO);
    CHECK_CONTAINS(core_error_message(), "none.yaml: cannot open");
    free(missing);
}

/* ---------------------------------------------------------------- typed configs */

typedef struct test_cfg {
    int64_t steps;
    double learning_rate;
    bool shuffle;
    char *name;
    char *mode;
    core_strlist scenes;
    char *data_path;
} test_cfg;

static const core_cfg_field test_fields[] = {
    {"steps", CORE_CFG_INT, offsetof(test_cfg, steps), 1, 1e6, NULL, 0, "steps"},
    {"optim.learning_rate", CORE_CFG_REAL, offsetof(test_cfg, learning_rate), 0, 1, NULL, 0, "lr"},
    {"optim.shuffle", CORE_CFG_BOOL, offsetof(test_cfg, shuffle), 0, 0, NULL, 0, "shuffle"},
    {"name", CORE_CFG_STR, offsetof(test_cfg, name), 0, 0, NULL, CORE_CFG_NULLABLE, "name"},
    {"mode", CORE_CFG_ENUM, offsetof(test_cfg, mode), 0, 0, "fast|careful|exact", 0, "mode"},
    {"scenes", CORE_CFG_STRLIST, offsetof(test_cfg, scenes), 1, 8, NULL, 0, "scenes"},
    {"data.path", CORE_CFG_STR, offsetof(test_cfg, data_path), 0, 0, NULL, CORE_CFG_REQUIRED,
     "data"},
};
static const core_cfg_schema test_schema = {"test",
                                            "test/defaults.yaml",
                                            sizeof(test_cfg),
                                            test_fields,
                                            sizeof test_fields / sizeof *test_fields,
                                            "test"};

static const char *defaults_text = "steps: 100\noptim:\n  learning_rate: 0.001\n  shuffle: true\n"
                                   "name: null\nmode: fast\nscenes: [car, call]\n";

static void test_config_layers_defaults_file_and_set(void)
{
    char *u = tmp_file("user.yaml", "steps: 5\noptim:\n  learning_rate: 0.5\n"
                                    "data:\n  path: \"/tmp/x\"\n");
    const char *sets[] = {"mode=exact", "scenes=a,b,c", "name=demo"};
    test_cfg c;
    CHECK_EQ_INT(core_cfg_load(&test_schema, u, sets, 3, &c), CORE_OK);
    CHECK_EQ_INT(c.steps, 5);
    CHECK_NEAR(c.learning_rate, 0.5, 0);
    CHECK(c.shuffle);
    CHECK_STR(c.mode, "exact");
    CHECK_STR(c.name, "demo");
    CHECK_EQ_INT(c.scenes.n, 3);
    CHECK_STR(c.data_path, "/tmp/x");
    char *y = core_cfg_emit(&test_schema, &c);
    CHECK_CONTAINS(y, "optim:\n  learning_rate: 0.5\n  shuffle: true\n");
    CHECK_CONTAINS(y, "scenes: [\"a\", \"b\", \"c\"]");
    /* The emitted config reads back to the same values. */
    char *e = tmp_file("emitted.yaml", y);
    test_cfg c2;
    CHECK_EQ_INT(core_cfg_load(&test_schema, e, NULL, 0, &c2), CORE_OK);
    char *y2 = core_cfg_emit(&test_schema, &c2);
    CHECK_STR(y, y2);
    free(y);
    free(y2);
    core_cfg_free(&test_schema, &c);
    core_cfg_free(&test_schema, &c2);
    free(u);
    free(e);
}

/* Loads `text` as the user's file; returns the status, message in core_error_message(). */
static core_status load_text(const char *text, const char *set)
{
    char *u = tmp_file("case.yaml", text);
    test_cfg c;
    const char *sets[] = {set};
    core_status st = core_cfg_load(&test_schema, u, sets, set ? 1 : 0, &c);
    core_cfg_free(&test_schema, &c);
    free(u);
    return st;
}

static void test_config_unknown_key_suggests_nearest(void)
{
    CHECK_EQ_INT(load_text("data: {path: x}\noptim:\n  lerning_rate: 0.1\n", NULL),
                 CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "case.yaml:3:3: unknown key 'optim.lerning_rate' "
                                         "(did you mean 'learning_rate'?)");
    CHECK_EQ_INT(load_text("data: {path: x}\nsteep: 3\n", NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(),
                   "case.yaml:2:1: unknown key 'steep' (did you mean 'steps'?)");
    CHECK_EQ_INT(load_text("data: {path: x}\nzzzzzz: 3\n", NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "unknown key 'zzzzzz' in test config");
    CHECK_EQ_INT(load_text("data: {path: x}\n", "optim.lerning_rate=3"), CORE_ERR_SCHEMA);
    CHECK_STR(core_error_message(), "--set optim.lerning_rate=3: unknown key "
                                    "'optim.lerning_rate' (did you mean 'optim.learning_rate'?)");
}

static void test_config_rejects_bad_values(void)
{
    CHECK_EQ_INT(load_text("data: {path: x}\nsteps: many\n", NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "case.yaml:2:8: 'steps' must be an integer, not 'many'");
    CHECK_EQ_INT(load_text("data: {path: x}\nsteps: 2.5\n", NULL), CORE_ERR_SCHEMA);
    CHECK_EQ_INT(load_text("data: {path: x}\nsteps: 0\n", NULL), CORE_ERR_RANGE);
    CHECK_CONTAINS(core_error_message(), "case.yaml:2:8: 'steps' is 0, outside [1, 1000000]");
    CHECK_EQ_INT(load_text("data: {path: x}\noptim: {learning_rate: nan}\n", NULL),
                 CORE_ERR_SCHEMA);
    CHECK_EQ_INT(load_text("data: {path: x}\noptim: {shuffle: yes}\n", NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "'optim.shuffle' must be true or false, not 'yes'");
    CHECK_EQ_INT(load_text("data: {path: x}\nmode: carefull\n", NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(),
                   "'mode' must be one of {fast,careful,exact}, not 'carefull' "
                   "(did you mean 'careful'?)");
    CHECK_EQ_INT(load_text("data: {path: x}\nscenes: []\n", NULL), CORE_ERR_RANGE);
    CHECK_EQ_INT(load_text("data: {path: x}\noptim: 3\n", NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "'optim' is a section and must be a map");
    CHECK_EQ_INT(load_text("data: {path: x}\nsteps: [1]\n", NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "'steps' must be an integer, not a list");
    CHECK_EQ_INT(load_text("data: {path: x}\n", "steps=lots"), CORE_ERR_SCHEMA);
    CHECK_STR(core_error_message(), "--set steps=lots: 'steps' must be an integer, not 'lots'");
    CHECK_EQ_INT(load_text("data: {path: x}\n", "steps"), CORE_ERR_USAGE);
}

static void test_config_missing_required_and_duplicate_keys(void)
{
    CHECK_EQ_INT(load_text("steps: 3\n", NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "missing required key 'data.path'");
    CHECK_EQ_INT(load_text("data: {path: x}\nsteps: 3\nsteps: 4\n", NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "case.yaml:3:1: duplicate key 'steps'");
    CHECK_EQ_INT(load_text("data: {path: x}\nsteps: 3\n", "data.path=y"), CORE_OK);
    char *missing = core_sprintf("%s/absent.yaml", tmpdir);
    test_cfg c;
    CHECK_EQ_INT(core_cfg_load(&test_schema, missing, NULL, 0, &c), CORE_ERR_IO);
    CHECK_CONTAINS(core_error_message(), "absent.yaml: cannot open");
    free(missing);
}

static void test_config_defaults_file_must_set_every_key(void)
{
    char *p = core_sprintf("%s/configs/test/defaults.yaml", tmpdir);
    FILE *f = fopen(p, "w");
    fputs("steps: 100\n", f);
    fclose(f);
    CHECK_EQ_INT(load_text("data: {path: x}\n", NULL), CORE_ERR_SCHEMA);
    CHECK_CONTAINS(core_error_message(), "defaults.yaml: missing key 'optim.learning_rate'");
    f = fopen(p, "w");
    fputs(defaults_text, f);
    fclose(f);
    free(p);
}

int main(void)
{
    if (!test_tmpdir(tmpdir, sizeof tmpdir, "core"))
        return 1;
    char *cfgdir = core_sprintf("%s/configs/test", tmpdir);
    core_mkdir_p(cfgdir);
    free(cfgdir);
    cfgdir = core_sprintf("%s/configs", tmpdir);
    setenv("TROUPE_CONFIG_DIR", cfgdir, 1);
    free(cfgdir);
    char *d = tmp_file("configs/test/defaults.yaml", defaults_text);
    free(d);

    RUN(test_error_message_names_object_and_keeps_code);
    RUN(test_alloc_refuses_overflowing_size);
    RUN(test_philox_matches_random123_known_answers);
    RUN(test_rng_streams_differ_by_purpose_and_repeat_by_seed);
    RUN(test_rng_distributions_have_expected_moments);
    RUN(test_rng_results_do_not_depend_on_thread_count);
    RUN(test_atomic_write_replaces_whole_file_and_leaves_no_temp);
    RUN(test_sha256_and_ed25519_match_published_vectors);
    RUN(test_metrics_writes_one_json_object_per_line);
    RUN(test_h5_roundtrip_is_byte_identical_and_atomic);
    RUN(test_yaml_builds_tree_with_positions);
    RUN(test_yaml_rejects_malformed_with_line_and_column);
    RUN(test_yaml_rejects_duplicate_keys_anchors_tags_and_documents);
    RUN(test_yaml_refuses_alias_bomb_fast_with_flat_memory);
    RUN(test_yaml_enforces_depth_and_size_limits);
    RUN(test_config_layers_defaults_file_and_set);
    RUN(test_config_unknown_key_suggests_nearest);
    RUN(test_config_rejects_bad_values);
    RUN(test_config_missing_required_and_duplicate_keys);
    RUN(test_config_defaults_file_must_set_every_key);

    char *cmd = core_sprintf("rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        printf("warning: could not remove %s\n", tmpdir);
    free(cmd);
    return TEST_SUMMARY();
}
