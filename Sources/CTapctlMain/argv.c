#include "ctapctlmain.h"

// The command line as the kernel passed it to the program. Swift's
// CommandLine.arguments reads /proc/self/cmdline on Linux, which is empty
// where /proc is not mounted (a chroot, an early boot), so tapctl takes argv
// the way glibc hands it to every constructor in .init_array.
static int saved_argc;
static char **saved_argv;

__attribute__((constructor)) static void ctapctl_save_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}

int ctap_argc(void) { return saved_argc; }
char **ctap_argv(void) { return saved_argv; }
