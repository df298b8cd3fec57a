/*
** report.h -- `risq report` and the table writer shared with compare
** (prefix report_).
**
** Owns the output formats (aligned text, Markdown, CSV, JSON, HTML), a
** small string table that writes itself in the text formats, and the
** history report: latest results per suite, trends per configuration with
** change points, bit-width vs accuracy and latency, boards side by side.
** The report only reads the results DB (plain SELECTs).
*/
#ifndef RISQ_HARNESS_REPORT_H
#define RISQ_HARNESS_REPORT_H

#include <stdio.h>
#include <stddef.h>

struct sqlite3;

typedef enum report_format {
    REPORT_TABLE, REPORT_MD, REPORT_CSV, REPORT_JSON, REPORT_HTML
} report_format;

/* "table", "md", "csv", "json", "html" -> *out; -1 when unknown. */
int report_parse_format(const char *s, report_format *out);

/* A table of strings: a header and rows of ncols cells (copied). */
typedef struct report_table {
    int ncols, nrows, cap;
    char **head;     /* ncols */
    char **cells;    /* nrows * ncols */
} report_table;

report_table *report_table_new(int ncols, const char *const *head);
/* Append one row of ncols cells; NULL cells become "". Returns 0 or -1. */
int report_table_add(report_table *t, const char *const *cells);
void report_table_free(report_table *t);

/* Write t as aligned text (numbers right-aligned), a Markdown table, CSV
** (RFC 4180 quoting, header line first) or an HTML <table> (escaped). */
void report_table_write(const report_table *t, report_format fmt, FILE *f);

/* HTML-escape s (& < > " ') to f. */
void report_html_escape(FILE *f, const char *s);

/* Render the history report of the DB to f.  vs: the method the paired
** section compares every other method with (NULL: the best method at each
** bit setting).  Returns 0, or -1 with a message in err. */
int report_render(struct sqlite3 *db, report_format fmt, const char *vs, FILE *f, char *err,
                  size_t errlen);

/* `risq report` (argv[0] is "report"); returns the exit status. */
int report_main(int argc, char **argv);

#endif
