import Glibc
import CTapShim

// argv as the kernel passed it: CommandLine.arguments would read /proc, which
// a chroot may not have.
let arguments = (1..<Int(ctap_argc())).compactMap { index in ctap_argv()?[index].map { String(cString: $0) } }
exit(tapctl(arguments))
