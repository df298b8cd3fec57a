/*
** modelcmd: `risq model sites` (the quantization sites of a model, and with
** --method the quantizer calibration gives each) and `risq sensitivity`
** (quantize one site group at a time and rank the groups by mIoU loss).
*/
#include "harness/modelcmd.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "datasets/synth.h"
#include "harness/cli.h"
#include "harness/evaluate.h"
#include "harness/metrics.h"
#include "harness/stats.h"
#include "models/lavt.h"
#include "models/quantize.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Options shared by both commands. */
typedef struct mopts {
    const char *model, *zoo, *method, *bits, *data, *split, *by, *scope;
    long long seed, count;
    int calib, threads;
} mopts;

static int parse_int(const char *s, const char *what, long long lo, long long hi, long long *out)
{
    return cli_parse_ll("risq", s, what, lo, hi, out);
}

static int parse_opts(int argc, char **argv, mopts *o, const char *usage)
{
    static const struct option opts[] = {
        {"zoo", required_argument, 0, 'z'}, {"method", required_argument, 0, 'm'},
        {"bits", required_argument, 0, 'b'}, {"data", required_argument, 0, 'd'},
        {"split", required_argument, 0, 'S'}, {"seed", required_argument, 0, 's'},
        {"count", required_argument, 0, 'n'}, {"calib-samples", required_argument, 0, 'c'},
        {"threads", required_argument, 0, 't'}, {"by", required_argument, 0, 'y'},
        {"scope", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    long long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'z': o->zoo = optarg; break;
        case 'm': o->method = optarg; break;
        case 'b': o->bits = optarg; break;
        case 'd': o->data = optarg; break;
        case 'S': o->split = optarg; break;
        case 'y': o->by = optarg; break;
        case 'o': o->scope = optarg; break;
        case 's': if (parse_int(optarg, "--seed", 0, INT64_MAX, &o->seed)) return 2; break;
        case 'n': if (parse_int(optarg, "--count", 1, SYNTH_MAX_COUNT, &o->count)) return 2; break;
        case 'c': if (parse_int(optarg, "--calib-samples", 1, 4096, &v)) return 2; o->calib = (int)v; break;
        case 't': if (parse_int(optarg, "--threads", 1, 256, &v)) return 2; o->threads = (int)v; break;
        case 'h': fputs(usage, stdout); return 1;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "risq: MODEL is required\n\n%s", usage);
        return 2;
    }
    o->model = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "risq: unexpected argument '%s'\n\n%s", argv[optind], usage);
        return 2;
    }
    qm_recipe r;
    qm_bits b;
    if (o->method && qm_recipe_builtin(o->method, &r)) {
        fprintf(stderr, "risq: unknown method '%s' (fp32, minmax, percentile, omse, ptq4vit, "
                "ptq4ris, ptq4ris-no-drq, ptq4ris-no-rorq)\n", o->method);
        return 2;
    }
    qm_scope sc;
    if (o->scope && qm_scope_parse(o->scope, &sc)) {
        fprintf(stderr, "risq: --scope '%s': use upstream or all\n", o->scope);
        return 2;
    }
    if (o->bits && qm_bits_parse(o->bits, &b)) {
        fprintf(stderr, "risq: --bits '%s' is not WxAy with 2 <= x, y <= 8 (e.g. W8A8)\n", o->bits);
        return 2;
    }
    return 0;
}

static int load_model(const mopts *o, lavt_model **m, const char *cmd)
{
    char dir[4096], err[2048];
    if (ev_resolve_model(o->model, o->zoo, NULL, dir, sizeof dir)) {
        fprintf(stderr, "%s: model '%s' not found (looked in --zoo, $RISQ_ZOO and models/zoo)\n",
                cmd, o->model);
        return -1;
    }
    if (lavt_load(dir, m, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

/* Evaluation split (synthetic val by default, or --data DIR [--split S]) and
** calibration samples (synthetic seed + EV_CALIB_SEED_OFFSET, or the
** folder's "train" split). */
static int load_data(const mopts *o, const lavt_model *m, ds_dataset **eval, ev_calib *cal,
                     const char *cmd)
{
    char err[2048];
    ds_dataset *cd = NULL;
    int rc;
    *eval = NULL;
    if (o->data) {
        rc = ds_load(o->data, o->split, eval, err, sizeof err);
        if (rc == 0) rc = ds_load(o->data, "train", &cd, err, sizeof err);
    } else {
        synth_params p;
        synth_defaults(&p);
        p.seed = (uint64_t)o->seed;
        p.count = (int)o->count;
        rc = synth_generate(&p, "val", eval, err, sizeof err);
        p.seed += EV_CALIB_SEED_OFFSET;
        p.count = o->calib;
        if (rc == 0) rc = synth_generate(&p, "train", &cd, err, sizeof err);
    }
    if (rc == 0) rc = ev_calib_build(m, cd, o->calib, cal, err, sizeof err);
    ds_free(cd);
    if (rc) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        ds_free(*eval);
        *eval = NULL;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------ risq model --- */

static const char usage_model[] =
    "usage: risq model sites MODEL [--method M --bits WxAy [--scope S]] [--zoo DIR]\n"
    "                  [--seed S --count N | --data DIR] [--calib-samples N]\n"
    "\n"
    "List the quantization sites of MODEL (a zoo name or a model folder): every\n"
    "weight and every activation that enters a matrix product, in forward order,\n"
    "with its kind (weight, act, softmax, gelu, text), group and shape. With\n"
    "--method and --bits the model is calibrated (on N samples, default 32, of the\n"
    "synthetic calibration split, or DIR's train split) and each site's quantizer\n"
    "is shown. --scope upstream|all overrides the recipe's scope (upstream, the\n"
    "default, leaves fusion.* and decoder.* in float as PTQ4RIS does).\n"
    "\n"
    "exit status: 0 success, 1 calibration failed, 2 usage or model error\n";

int modelcmd_main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "sites") != 0) {
        int help = argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"));
        fputs(usage_model, help ? stdout : stderr);
        return help ? 0 : 2;
    }
    mopts o = {0};
    o.seed = 7;
    o.count = 40;
    o.calib = 32;
    int rc = parse_opts(argc - 1, argv + 1, &o, usage_model);
    if (rc) return rc == 1 ? 0 : rc;
    if (!o.method != !o.bits && !(o.method && !strcmp(o.method, "fp32"))) {
        fprintf(stderr, "risq model sites: --method and --bits go together\n");
        return 2;
    }
    lavt_model *m;
    if (load_model(&o, &m, "risq model sites")) return 2;
    qm_state *q = NULL;
    double calib_s = 0;
    if (o.method) {
        ds_dataset *eval;
        ev_calib cal;
        char err[2048];
        qm_recipe r;
        qm_bits b = {8, 8};
        qm_recipe_builtin(o.method, &r);
        if (o.scope) qm_scope_parse(o.scope, &r.scope);
        if (o.bits) qm_bits_parse(o.bits, &b);
        if (load_data(&o, m, &eval, &cal, "risq model sites")) {
            lavt_free(m);
            return 1;
        }
        double t0 = now_s();
        rc = qm_calibrate(m, &r, b, cal.s, cal.n, &q, err, sizeof err);
        calib_s = now_s() - t0;
        ev_calib_free(&cal);
        ds_free(eval);
        if (rc) {
            fprintf(stderr, "risq model sites: %s\n", err);
            lavt_free(m);
            return 1;
        }
    }
    printf("%-4s %-44s %-7s %-18s %-13s %s\n", "#", "site", "kind", "group", "shape",
           o.method ? "quantizer" : "");
    int n = lavt_site_count(m);
    for (int i = 0; i < n; i++) {
        const lavt_site *t = lavt_site_get(m, i);
        char shape[32], qd[96] = "";
        if (t->kind == LAVT_SITE_WEIGHT) snprintf(shape, sizeof shape, "%dx%d", t->rows, t->cols);
        else snprintf(shape, sizeof shape, "[..]x%d", t->cols);
        if (q) qm_describe_site(q, i, qd, sizeof qd);
        printf("%-4d %-44s %-7s %-18s %-13s %s\n", i, t->name, lavt_site_kind_name(t->kind), t->group,
               shape, qd);
    }
    printf("%d sites\n", n);
    if (q) printf("calibration: %.2f s on one core, weights %.0f bytes packed (fp32 %.0f)\n", calib_s,
                  (double)qm_weight_bytes(m, q), (double)lavt_weight_bytes(m));
    qm_free(q);
    lavt_free(m);
    return 0;
}

/* ------------------------------------------------ risq sensitivity --- */

static const char usage_sens[] =
    "usage: risq sensitivity MODEL [--method M] [--bits WxAy] [--scope S] [--by group|kind|site]\n"
    "                        [--seed S --count N | --data DIR [--split S]]\n"
    "                        [--calib-samples N] [--threads T] [--zoo DIR]\n"
    "\n"
    "Quantize one site group at a time (everything else stays fp32) and rank the\n"
    "groups by the mIoU they lose against fp32, then quantize everything. Groups\n"
    "are the network's blocks (text.layerK, vision.patch_embed, vision.stageI,\n"
    "fusion.stageI, decoder); with --by kind the site kinds (weight, act,\n"
    "softmax, gelu, text); with --by site:PREFIX every site of the groups\n"
    "starting with PREFIX on its own (at most 64). loss_lo ... loss_hi is the\n"
    "loss's 95% interval, paired over the expressions (a loss whose interval\n"
    "includes 0 is within the split's noise; --count raises the precision).\n"
    "\n"
    "  --method M         recipe (default ptq4ris)\n"
    "  --bits WxAy        bit setting (default W4A4)\n"
    "  --scope S          upstream (default: fusion.* and decoder.* stay float, as\n"
    "                     PTQ4RIS) or all (every site)\n"
    "  --seed S --count N synthetic evaluation split (default seed 7, 100 images)\n"
    "  --data DIR         a dataset folder instead (--split, default: its only split;\n"
    "                     calibration uses its 'train' split)\n"
    "  --calib-samples N  calibration samples (default 32)\n"
    "  --threads T        threads of the accuracy passes (default 2)\n"
    "\n"
    "exit status: 0 success, 1 a pass failed, 2 usage or model error\n";

typedef struct srow {
    char group[64];
    double miou, lo, hi, agree, calib_s;   /* lo, hi: the loss's 95% interval, points */
} srow;

static int by_loss(const void *a, const void *b)
{
    const srow *x = a, *y = b;
    return (x->miou > y->miou) - (x->miou < y->miou);   /* lowest mIoU (largest loss) first */
}

int sensitivity_main(int argc, char **argv)
{
    mopts o = {0};
    o.method = "ptq4ris";
    o.bits = "W4A4";
    o.by = "group";
    o.seed = 7;
    o.count = 100;
    o.calib = 32;
    o.threads = 2;
    int rc = parse_opts(argc, argv, &o, usage_sens);
    if (rc) return rc == 1 ? 0 : rc;
    if (strcmp(o.by, "group") && strcmp(o.by, "kind") && strncmp(o.by, "site", 4)) {
        fprintf(stderr, "risq sensitivity: --by '%s': use group, kind, site or site:PREFIX\n", o.by);
        return 2;
    }
    lavt_model *m;
    if (load_model(&o, &m, "risq sensitivity")) return 2;
    ds_dataset *eval;
    ev_calib cal;
    if (load_data(&o, m, &eval, &cal, "risq sensitivity")) {
        lavt_free(m);
        return 1;
    }
    qm_recipe base;
    qm_bits b;
    qm_recipe_builtin(o.method, &base);
    if (o.scope) qm_scope_parse(o.scope, &base.scope);
    qm_bits_parse(o.bits, &b);

    /* the groups, in network order */
    char groups[64][48];   /* each fits qm_recipe.only */
    int ng = 0;
    static const char *const kinds[] = {"weight", "act", "softmax", "gelu", "text"};
    if (!strcmp(o.by, "kind")) {
        for (int k = 0; k < 5; k++) snprintf(groups[ng++], sizeof groups[0], "kind:%s", kinds[k]);
    } else if (!strncmp(o.by, "site", 4)) {
        /* every site (of the groups starting with PREFIX) on its own */
        const char *pre = o.by[4] == ':' ? o.by + 5 : "";
        for (int i = 0; i < lavt_site_count(m) && ng < 64; i++) {
            const lavt_site *t = lavt_site_get(m, i);
            if (!strncmp(t->group, pre, strlen(pre)))
                snprintf(groups[ng++], sizeof groups[0], "site:%.42s", t->name);
        }
    } else {
        for (int i = 0; i < lavt_site_count(m) && ng < 64; i++) {
            const char *g = lavt_site_get(m, i)->group;
            int seen = 0;
            for (int k = 0; k < ng && !seen; k++) seen = !strcmp(groups[k], g);
            if (!seen) snprintf(groups[ng++], sizeof groups[0], "%s", g);
        }
    }

    char err[2048];
    ev_ctx e;
    mt_acc acc;
    ev_agree ag;
    memset(&e, 0, sizeof e);
    size_t per = ev_ref_floats(lavt_get_config(m)), nexpr = (size_t)ev_expressions(eval);
    float *ref = malloc(nexpr * per * sizeof(float));
    FILE *mem = ref ? fmemopen(ref, nexpr * per * sizeof(float), "wb") : NULL;
    srow *rows = calloc((size_t)ng + 1, sizeof *rows);
    double *fpiou = malloc((nexpr + 1) * sizeof *fpiou), *qiou = malloc((nexpr + 1) * sizeof *qiou);
    rc = 1;
    if (!ref || !mem || !rows || !fpiou || !qiou || ev_init(&e, m, o.threads)) {
        fprintf(stderr, "risq sensitivity: out of memory\n");
        goto out;
    }
    setvbuf(mem, NULL, _IONBF, 0);
    if (ev_accuracy(&e, eval, &acc, mem, NULL, NULL, fpiou, NULL, err, sizeof err)) goto fail;
    fclose(mem);
    mem = NULL;
    double fp = mt_value(&acc, MT_MIOU);
    printf("risq sensitivity: %s, %s %s scope %s, %zu expressions (synth seed %lld, %lld images), "
           "calibration %d samples\nfp32 miou %.2f\n", o.model, o.method, o.bits,
           qm_scope_name(base.scope), nexpr, o.seed, o.count, cal.n, fp);
    for (int g = 0; g <= ng; g++) {
        qm_recipe r = base;
        if (g < ng) snprintf(r.only, sizeof r.only, "%.47s", groups[g]);
        snprintf(rows[g].group, sizeof rows[g].group, "%.47s", g < ng ? groups[g] : "(all)");
        qm_state *q = NULL;
        double t0 = now_s();
        if (qm_calibrate(m, &r, b, cal.s, cal.n, &q, err, sizeof err)) goto fail;
        rows[g].calib_s = now_s() - t0;
        if (qm_apply(m, q, err, sizeof err) ||
            ev_accuracy(&e, eval, &acc, NULL, ref, &ag, qiou, NULL, err, sizeof err)) {
            qm_detach(m);
            qm_free(q);
            goto fail;
        }
        qm_detach(m);
        qm_free(q);
        rows[g].miou = mt_value(&acc, MT_MIOU);
        rows[g].agree = ev_fp_agreement(&ag);
        stats_paired pd;
        stats_paired_diff(fpiou, qiou, (int)nexpr, &pd);
        rows[g].lo = 100 * pd.lo;
        rows[g].hi = 100 * pd.hi;
        fprintf(stderr, "  %-20s miou %6.2f\n", rows[g].group, rows[g].miou);
    }
    qsort(rows, (size_t)ng, sizeof *rows, by_loss);
    printf("%-4s %-20s %8s %9s %8s %8s %13s %9s\n", "rank", "quantized", "miou", "loss", "loss_lo",
           "loss_hi", "fp_agreement", "calib_s");
    for (int g = 0; g <= ng; g++) {
        if (g == ng) printf("%-4s", "");
        else printf("%-4d", g + 1);
        printf(" %-20s %8.2f %9.2f %8.2f %8.2f %13.2f %9.2f\n", rows[g].group, rows[g].miou,
               fp - rows[g].miou, rows[g].lo, rows[g].hi, rows[g].agree, rows[g].calib_s);
    }
    rc = 0;
    goto out;
fail:
    fprintf(stderr, "risq sensitivity: %s\n", err);
out:
    if (mem) fclose(mem);
    ev_free(&e);
    free(ref);
    free(rows);
    free(fpiou);
    free(qiou);
    ev_calib_free(&cal);
    ds_free(eval);
    lavt_free(m);
    return rc;
}
