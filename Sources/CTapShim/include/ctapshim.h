// Exports what Swift cannot import from the TUN and netlink headers:
// function-like ioctl request macros and the unions inside struct ifreq.
#ifndef CTAPSHIM_H
#define CTAPSHIM_H

#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if_link.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <linux/pkt_sched.h>
#include <linux/pkt_cls.h>
#include <linux/tc_act/tc_mirred.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>

static inline unsigned long ctap_TUNSETIFF(void) { return TUNSETIFF; }
static inline unsigned long ctap_TUNSETPERSIST(void) { return TUNSETPERSIST; }
static inline unsigned long ctap_TUNSETOWNER(void) { return TUNSETOWNER; }
static inline unsigned long ctap_TUNSETGROUP(void) { return TUNSETGROUP; }
static inline unsigned long ctap_TUNGETFEATURES(void) { return TUNGETFEATURES; }
static inline unsigned long ctap_TUNSETOFFLOAD(void) { return TUNSETOFFLOAD; }
static inline unsigned long ctap_TUNGETIFF(void) { return TUNGETIFF; }
static inline unsigned long ctap_TUNGETSNDBUF(void) { return TUNGETSNDBUF; }
static inline unsigned long ctap_TUNSETSNDBUF(void) { return TUNSETSNDBUF; }
static inline unsigned long ctap_TUNGETVNETHDRSZ(void) { return TUNGETVNETHDRSZ; }
static inline unsigned long ctap_TUNSETVNETHDRSZ(void) { return TUNSETVNETHDRSZ; }
static inline unsigned long ctap_TUNSETQUEUE(void) { return TUNSETQUEUE; }
static inline unsigned long ctap_TUNSETVNETLE(void) { return TUNSETVNETLE; }
static inline unsigned long ctap_TUNGETVNETLE(void) { return TUNGETVNETLE; }
static inline unsigned long ctap_TUNSETVNETBE(void) { return TUNSETVNETBE; }
static inline unsigned long ctap_TUNGETVNETBE(void) { return TUNGETVNETBE; }
// _IO('T', 227), Linux 5.2: a descriptor of the device's network namespace.
static inline unsigned long ctap_TUNGETDEVNETNS(void) { return 0x54e3; }

// glibc's ioctl is variadic, which Swift cannot call; these fix its argument.
static inline int ctap_ioctl_pointer(int fd, unsigned long request, void *arg) {
    return ioctl(fd, request, arg);
}
static inline int ctap_ioctl_value(int fd, unsigned long request, unsigned long value) {
    return ioctl(fd, request, value);
}

// fcntl and prctl are variadic too.
static inline int ctap_fcntl_int(int fd, int command, int argument) {
    return fcntl(fd, command, argument);
}
static inline int ctap_set_no_new_privs(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

// setns needs _GNU_SOURCE, which the Glibc module does not define.
int setns(int fd, int nstype);
static inline int ctap_setns_net(int fd) { return setns(fd, 0x40000000 /* CLONE_NEWNET */); }
int unshare(int flags);
static inline int ctap_unshare_net(void) { return unshare(0x40000000 /* CLONE_NEWNET */); }

// getauxval(AT_SECURE): set by the kernel when exec raised privilege.
unsigned long getauxval(unsigned long type);
static inline int ctap_secure_exec(void) { return getauxval(23 /* AT_SECURE */) != 0; }

// PR_SET_KEEPCAPS around setuid, for a setuid-root helper that keeps CAP_NET_ADMIN.
static inline int ctap_keep_capabilities(int on) { return prctl(PR_SET_KEEPCAPS, on, 0, 0, 0); }

// SCM_RIGHTS: the CMSG_* macros.
static inline size_t ctap_cmsg_space(size_t length) { return CMSG_SPACE(length); }
static inline size_t ctap_cmsg_len(size_t length) { return CMSG_LEN(length); }
static inline unsigned char *ctap_cmsg_data(struct cmsghdr *header) { return CMSG_DATA(header); }

// struct ifreq: the name and the flags member of its union.
static inline void ctap_ifreq_set(struct ifreq *ifr, const char *name, short flags) {
    memset(ifr, 0, sizeof(*ifr));
    strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
    ifr->ifr_flags = flags;
}
// For SIOCETHTOOL: the name and the ifr_data pointer.
static inline void ctap_ifreq_set_data(struct ifreq *ifr, const char *name, void *data) {
    memset(ifr, 0, sizeof(*ifr));
    strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
    ifr->ifr_data = data;
}
static inline short ctap_ifreq_flags(const struct ifreq *ifr) { return ifr->ifr_flags; }
// Copies the name out with a guaranteed terminator.
static inline void ctap_ifreq_name(const struct ifreq *ifr, char out[IFNAMSIZ]) {
    memcpy(out, ifr->ifr_name, IFNAMSIZ);
    out[IFNAMSIZ - 1] = '\0';
}

#endif
