/*
** test_report_png.c -- helper of test_report_html.sh: decode a PNG
** screenshot (stb_image) and print "WIDTH HEIGHT NONWHITE BLUE": the number
** of pixels that are not near-white, and of pixels close to the report's
** chart blue (#2a6fdb), so the script can tell a blank page from a rendered
** one. Exit status 1 when the file cannot be decoded.
*/
#include <stdio.h>
#include <stdlib.h>

#include <stb/stb_image.h>

int main(int argc, char **argv)
{
    int w, h, n;
    if (argc != 2) {
        fprintf(stderr, "usage: test_report_png FILE.png\n");
        return 2;
    }
    unsigned char *px = stbi_load(argv[1], &w, &h, &n, 3);
    if (!px) {
        fprintf(stderr, "%s: cannot decode: %s\n", argv[1], stbi_failure_reason());
        return 1;
    }
    long nonwhite = 0, blue = 0;
    for (long i = 0; i < (long)w * h; i++) {
        int r = px[3 * i], g = px[3 * i + 1], b = px[3 * i + 2];
        if (r < 235 || g < 235 || b < 235) nonwhite++;
        if (abs(r - 0x2a) < 40 && abs(g - 0x6f) < 40 && abs(b - 0xdb) < 40) blue++;
    }
    printf("%d %d %ld %ld\n", w, h, nonwhite, blue);
    stbi_image_free(px);
    return 0;
}
