/*
** main: the `risq` command line. Parses the sub-command and its options and
** hands over to the harness modules; the only place that calls exit codes.
**
**   risq run [SUITE] [--db PATH] ...     run a suite, store results
**   risq list [SUITE]                    print a suite's expanded matrix
**   risq compare [--baseline REF] ...    compare two runs, check the gates
**   risq report [-o html] ...            history report (trends, bits, boards)
**   risq baseline set|list ...           named baselines
**   risq merge [--db MAIN] OTHER...      merge other results histories
**   risq dataset synth ...               write a synthetic dataset folder
**   risq dataset info DIR                summarise a dataset folder
**   risq bench kernels [--db PATH] ...   own GEMMs vs OpenBLAS / oneDNN, stored
*/
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/dataset.h"
#include "datasets/synth.h"
#include "harness/benchkernels.h"
#include "harness/cli.h"
#include "harness/compare.h"
#include "harness/modelcmd.h"
#include "harness/report.h"
#include "harness/runner.h"
#include "harness/suite.h"

#ifndef RISQ_VERSION
#define RISQ_VERSION "unknown"
#endif

static const char usage_main[] =
    "usage: risq <command> [options]\n"
    "\n"
    "risq benchmarks post-training-quantized referring image segmentation (RIS)\n"
    "models: accuracy (mIoU, oIoU, Prec@X) and speed, stored in an SQLite history.\n"
    "\n"
    "commands:\n"
    "  run [SUITE]        run a suite (default suites/smoke.yaml), print and store results\n"
    "  list [SUITE]       print a suite's expanded matrix without running it\n"
    "  compare            compare two runs (default: latest vs previous), check gates\n"
    "  report             history report: latest, trends, bit-widths, boards (-o html)\n"
    "  baseline set|list  name a run as a baseline for compare\n"
    "  merge OTHER...     bring runs of other results histories into one (--db MAIN)\n"
    "  dataset synth      write a procedural referring dataset folder\n"
    "  dataset info DIR   print a dataset folder's summary and content hash\n"
    "  model sites MODEL  list a model's quantization sites (and their quantizers)\n"
    "  sensitivity MODEL  rank site groups by the mIoU their quantization costs\n"
    "  bench kernels      time own fp32/int8/int4 GEMMs against OpenBLAS and oneDNN\n"
    "\n"
    "options:\n"
    "  -h, --help         this help; `risq COMMAND --help` for a command\n"
    "  -V, --version      print the version\n"
    "\n"
    "exit status: 0 success, 1 something failed or regressed, 2 usage or input error\n";

static const char usage_synth[] =
    "usage: risq dataset synth --out DIR [--seed S] [--count N] [--size P]\n"
    "                          [--difficulty D] [--split NAME]\n"
    "\n"
    "Generate the procedural referring dataset (scenes of 2-6 coloured shapes on\n"
    "textured backgrounds, referring expressions over colour, shape, size,\n"
    "position and relations) and write it as a dataset folder: dataset.yaml,\n"
    "images/*.png, masks/*.png. The same parameters give the same content on\n"
    "every machine; the content hash is printed.\n"
    "\n"
    "  --out DIR         output folder (created)\n"
    "  --seed S          generator seed (default 7)\n"
    "  --count N         number of images (default 500); each gives 1-3 samples\n"
    "                    of 2 sentences\n"
    "  --size P          image side in pixels (default 64, range 32..1024)\n"
    "  --difficulty D    0 attributes only, 1 default mix, 2 more positions and\n"
    "                    relations\n"
    "  --split NAME      split name written into dataset.yaml (default val)\n";

static int parse_long(const char *s, const char *what, long long lo, long long hi, long long *out)
{
    return cli_parse_ll("risq", s, what, lo, hi, out);
}

static int cmd_dataset_synth(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'}, {"seed", required_argument, 0, 's'},
        {"count", required_argument, 0, 'n'}, {"size", required_argument, 0, 'p'},
        {"difficulty", required_argument, 0, 'd'}, {"split", required_argument, 0, 'S'},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    synth_params p;
    synth_defaults(&p);
    const char *out = NULL, *split = "val";
    long long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 's': if (parse_long(optarg, "--seed", 0, INT64_MAX, &v)) return 2; p.seed = (uint64_t)v; break;
        case 'n': if (parse_long(optarg, "--count", 1, SYNTH_MAX_COUNT, &v)) return 2; p.count = (int)v; break;
        case 'p': if (parse_long(optarg, "--size", SYNTH_MIN_SIZE, SYNTH_MAX_SIZE, &v)) return 2; p.size = (int)v; break;
        case 'd': if (parse_long(optarg, "--difficulty", 0, 2, &v)) return 2; p.difficulty = (int)v; break;
        case 'S': split = optarg; break;
        case 'h': fputs(usage_synth, stdout); return 0;
        default: fputs(usage_synth, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "risq dataset synth: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!out) {
        fprintf(stderr, "risq dataset synth: --out DIR is required\n\n%s", usage_synth);
        return 2;
    }
    char err[1024];
    ds_dataset *d;
    if (synth_generate(&p, split, &d, err, sizeof err) || ds_write(d, out, err, sizeof err)) {
        fprintf(stderr, "risq dataset synth: %s\n", err);
        return 1;
    }
    printf("%s: %d images, %d samples, %d sentences, split '%s', content hash %016llx\n", out,
           d->nimages, d->nsamples, ds_count_sentences(d), d->split,
           (unsigned long long)ds_hash(d));
    ds_free(d);
    return 0;
}

static int cmd_dataset_info(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs("usage: risq dataset info DIR [SPLIT]\n\nLoad a dataset folder and print its "
              "summary and content hash.\n", argc < 2 || argc > 3 ? stderr : stdout);
        return argc < 2 || argc > 3 ? 2 : 0;
    }
    char err[1024];
    ds_dataset *d;
    if (ds_load(argv[1], argc == 3 ? argv[2] : NULL, &d, err, sizeof err)) {
        fprintf(stderr, "risq dataset info: %s\n", err);
        return 1;
    }
    printf("name: %s\nversion: %s\nlicence: %s\nsplit: %s\nimages: %d\nsamples: %d\n"
           "sentences: %d\ncontent hash: %016llx\n", d->name, d->version ? d->version : "-",
           d->licence ? d->licence : "-", d->split, d->nimages, d->nsamples,
           ds_count_sentences(d), (unsigned long long)ds_hash(d));
    ds_free(d);
    return 0;
}

static const char usage_list[] =
    "usage: risq list [SUITE]\n"
    "\n"
    "Load and validate SUITE (default " SUITE_DEFAULT_PATH "), merging its include:\n"
    "files and applying its exclude: entries, and print the expanded matrix in run\n"
    "order, one line per configuration: index, model, dataset, method, bits, isa,\n"
    "threads, board. Nothing is run.\n"
    "\n"
    "exit status: 0 success, 2 usage or suite error\n";

static int cmd_list(int argc, char **argv)
{
    const char *path = SUITE_DEFAULT_PATH;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage_list, stdout);
            return 0;
        }
        if (argv[i][0] == '-' || i > 1) {
            fprintf(stderr, "risq list: unexpected argument '%s'\n\n%s", argv[i], usage_list);
            return 2;
        }
        path = argv[i];
    }
    char err[2048];
    suite *s;
    if (suite_load(path, &s, err, sizeof err)) {
        fprintf(stderr, "risq list: %s\n", err);
        return 2;
    }
    suite_config *c;
    int n = suite_expand(s, &c);
    if (n < 0) fprintf(stderr, "risq list: out of memory\n");
    else suite_print(s, c, n, stdout);
    free(c);
    suite_free(s);
    return n < 0 ? 2 : 0;
}

static int cmd_dataset(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "synth")) return cmd_dataset_synth(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "info")) return cmd_dataset_info(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs("usage: risq dataset synth|info ...\n", stdout);
        return 0;
    }
    fprintf(stderr, "usage: risq dataset synth|info ...  (`risq dataset synth --help`)\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_main, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        fputs(usage_main, stdout);
        return 0;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        printf("risq %s\n", RISQ_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "run")) return runner_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "compare")) return cmp_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "report")) return report_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "baseline")) return cmp_baseline_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "merge")) return runner_merge_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "dataset")) return cmd_dataset(argc - 1, argv + 1);
    if (!strcmp(cmd, "list")) return cmd_list(argc - 1, argv + 1);
    if (!strcmp(cmd, "model")) return modelcmd_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "sensitivity")) return sensitivity_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return bk_main(argc - 1, argv + 1);
    fprintf(stderr, "risq: unknown command '%s'\n\n%s", cmd, usage_main);
    return 2;
}
