import Glibc

exit(tapctl(argumentsAsPassed()))
