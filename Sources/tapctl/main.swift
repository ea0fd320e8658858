import Glibc

exit(tapctl(Array(CommandLine.arguments.dropFirst())))
