/* The C side of make bench's frame rates: the same system calls TapBench makes
 * through TapQueue (TUNSETIFF, then one writev, and for echo one readv, a
 * frame), with nothing around them. Usage as TapBench's. */
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static unsigned short sum(const unsigned char *bytes, int length) {
    unsigned long total = 0;
    for (int i = 0; i < length; i += 2) total += (bytes[i] << 8) | (i + 1 < length ? bytes[i + 1] : 0);
    while (total > 0xffff) total = (total & 0xffff) + (total >> 16);
    return (unsigned short)~total;
}

int main(int argc, char **argv) {
    if (argc != 6) return 2;
    int size = atoi(argv[3]), count = atoi(argv[4]), echo = strcmp(argv[2], "echo") == 0;
    unsigned char frame[1514] = {0}, ours[6] = {2, 0, 0, 0x79, 0, 2}, buffer[2048], header[10] = {0}, in[10];
    unsigned int mac[6];
    sscanf(argv[5], "%x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]);
    for (int i = 0; i < 6; i++) frame[i] = (unsigned char)mac[i];
    memcpy(frame + 6, ours, 6);
    frame[12] = 8;
    int ip = size - 14;
    unsigned char iphdr[20] = {0x45, 0, ip >> 8, ip & 0xff, 0, 1, 0x40, 0, 64, 1, 0, 0, 10, 79, 0, 2, 10, 79, 0, 1};
    memcpy(frame + 14, iphdr, 20);
    unsigned short c = sum(frame + 14, 20);
    frame[24] = c >> 8; frame[25] = c & 0xff;
    frame[34] = 8; frame[38] = 0x12; frame[39] = 0x34; frame[41] = 1;
    memset(frame + 42, 0x5a, size - 42);
    c = sum(frame + 34, size - 34);
    frame[36] = c >> 8; frame[37] = c & 0xff;

    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    struct ifreq ifr = {0};
    strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0) { perror("framebench"); return 1; }
    struct iovec out[2] = {{header, 10}, {frame, (size_t)size}}, back[2] = {{in, 10}, {buffer, sizeof buffer}};
    /* As TapBench: drain what an earlier run left, and never wait on a lost reply. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    while (readv(fd, back, 2) >= 0) {}
    int lost = 0;
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < count; i++) {
        if (writev(fd, out, 2) < 0) { perror("writev"); return 1; }
        if (!echo) continue;
        struct pollfd entry = {fd, POLLIN, 0};
        if (poll(&entry, 1, 1000) <= 0 || readv(fd, back, 2) < 0) lost++;
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    printf("%ld\n", (long)((count - lost) / ((end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9)));
    return 0;
}
