/* Measures the cues of a synthetic batch in the signal: loudness (RMS of the speech), pitch
 * (median autocorrelation F0 of voiced 40 ms frames) and speaking time per character, grouped
 * by the manifest's labels, so docs/corpus.md can show that each label is audible.
 * Usage: corpus_cues BATCH_DIR */
#include "data/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_f(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Median F0 over voiced frames (normalised autocorrelation peak above 0.5), 0 if none. */
static float median_f0(const float *x, size_t n, int rate)
{
    const int win = rate / 25, lo = rate / 400, hi = rate / 60;
    float f0s[4096];
    int nf = 0;
    for (size_t s = 0; s + (size_t)(win + hi) < n && nf < 4096; s += (size_t)win / 2) {
        double e0 = 0;
        for (int i = 0; i < win; i++)
            e0 += (double)x[s + i] * x[s + i];
        if (e0 / win < 1e-4)
            continue;
        double best = 0;
        int lag = 0;
        for (int l = lo; l <= hi; l++) {
            double c = 0, e1 = 0;
            for (int i = 0; i < win; i++) {
                c += (double)x[s + i] * x[s + i + (size_t)l];
                e1 += (double)x[s + i + (size_t)l] * x[s + i + (size_t)l];
            }
            double r = c / sqrt(e0 * e1 + 1e-12);
            if (r > best) {
                best = r;
                lag = l;
            }
        }
        if (best > 0.5 && lag)
            f0s[nf++] = (float)rate / (float)lag;
    }
    if (!nf)
        return 0;
    qsort(f0s, (size_t)nf, sizeof *f0s, cmp_f);
    return f0s[nf / 2];
}

typedef struct group {
    char label[40];
    int n;
    double rms, f0, ms_per_char;
} group;

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: corpus_cues BATCH_DIR\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.yaml", argv[1]);
    core_yaml_doc *doc;
    if (core_yaml_load(path, NULL, &doc) != CORE_OK) {
        fprintf(stderr, "corpus_cues: %s\n", core_error_message());
        return 2;
    }
    const core_yaml_node *recs = core_yaml_get(core_yaml_root(doc), "recordings");
    group g[64];
    int ng = 0;
    for (size_t i = 0; recs && i < recs->n; i++) {
        const core_yaml_node *r = recs->items[i];
        const core_yaml_node *p = core_yaml_get(r, "path"), *labels = core_yaml_get(r, "labels");
        const core_yaml_node *tr = core_yaml_get(r, "transcript");
        const core_yaml_node *text = tr ? core_yaml_get(tr, "text") : NULL;
        char ap[4096];
        snprintf(ap, sizeof ap, "%s/%s", argv[1], p->str);
        data_audio_info info;
        float *x;
        size_t n;
        if (data_audio_load_mono(ap, &info, &x, &n) != CORE_OK)
            continue; /* the planted problems */
        double e = 0;
        size_t voiced = 0;
        for (size_t k = 0; k < n; k++)
            if (fabsf(x[k]) > 0.01f) {
                e += (double)x[k] * x[k];
                voiced++;
            }
        double rms = voiced ? sqrt(e / (double)voiced) : 0;
        float f0 = median_f0(x, n, info.rate);
        size_t chars = 0;
        for (const char *c = text ? text->str : ""; *c; c++)
            chars += ((unsigned char)*c & 0xC0) != 0x80 && *c != ' ';
        double mpc = chars ? 1000.0 * (double)n / info.rate / (double)chars : 0;
        free(x);
        for (size_t k = 0; labels && k < labels->n; k++) {
            const core_yaml_node *l = core_yaml_get(labels->items[k], "label");
            if (!l || !strchr(l->str, ':'))
                continue;
            int j = 0;
            while (j < ng && strcmp(g[j].label, l->str))
                j++;
            if (j == ng && ng < 64) {
                memset(&g[ng], 0, sizeof g[ng]);
                snprintf(g[ng].label, sizeof g[ng].label, "%s", l->str);
                ng++;
            }
            if (j < 64) {
                g[j].n++;
                g[j].rms += rms;
                g[j].f0 += f0;
                g[j].ms_per_char += mpc;
            }
        }
    }
    /* sort by label */
    for (int i = 1; i < ng; i++)
        for (int j = i; j > 0 && strcmp(g[j - 1].label, g[j].label) > 0; j--) {
            group t = g[j];
            g[j] = g[j - 1];
            g[j - 1] = t;
        }
    printf("%-20s %5s %10s %10s %12s\n", "label", "n", "RMS", "F0 (Hz)", "ms/char");
    for (int i = 0; i < ng; i++)
        printf("%-20s %5d %10.4f %10.1f %12.1f\n", g[i].label, g[i].n, g[i].rms / g[i].n,
               g[i].f0 / g[i].n, g[i].ms_per_char / g[i].n);
    core_yaml_free(doc);
    return 0;
}
