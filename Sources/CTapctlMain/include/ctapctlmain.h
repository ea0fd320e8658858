#ifndef CTAPCTLMAIN_H
#define CTAPCTLMAIN_H

// argc and argv as the kernel passed them to tapctl, saved before main by a
// constructor (argv.c). Only the command line links this: a program that
// uses the libraries keeps its own argv handling.
int ctap_argc(void);
char **ctap_argv(void);

#endif
