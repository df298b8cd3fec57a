/*
** modelcmd: `risq model sites` and `risq sensitivity`, the commands that look
** at one model's quantization sites outside a suite.
*/
#ifndef RISQ_HARNESS_MODELCMD_H
#define RISQ_HARNESS_MODELCMD_H

int modelcmd_main(int argc, char **argv);        /* risq model ... */
int sensitivity_main(int argc, char **argv);     /* risq sensitivity ... */

#endif
