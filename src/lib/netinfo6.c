/*
 * natpilot: the IPv6 neighbour table (see include/natpilot/netinfo.h).
 * Linux has no /proc file for it: one RTM_GETNEIGH dump over rtnetlink,
 * each answer read through a bounded parser (np_netinfo_parse_neigh6).
 */
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "natpilot/netinfo.h"

#define NEIGH6_MAX 1024  /* entries kept at most */
#define NEIGH6_BUF 32768 /* one recv of the dump */

static int push(np_neighbour **arr, size_t *n, size_t *cap,
                const np_neighbour *e)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        np_neighbour *na = realloc(*arr, nc * sizeof(*na));
        if (na == NULL)
            return NP_ENOMEM;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = *e;
    return NP_OK;
}

int np_netinfo_parse_neigh6(const void *buf, size_t len, np_neighbour **arr,
                            size_t *n, size_t *cap, int *done, np_error *err)
{
    const uint8_t *p = buf;
    size_t off = 0;

    while (len - off >= sizeof(struct nlmsghdr)) {
        struct nlmsghdr h;
        struct ndmsg nd;
        size_t mlen, aoff;
        np_neighbour e;
        int have_dst = 0;

        memcpy(&h, p + off, sizeof(h));
        mlen = h.nlmsg_len;
        if (mlen < sizeof(h) || mlen > len - off)
            return np_error_set(err, NP_EPARSE, NULL,
                                "truncated netlink message");
        if (h.nlmsg_type == NLMSG_DONE) {
            *done = 1;
            return NP_OK;
        }
        if (h.nlmsg_type == NLMSG_ERROR)
            return np_error_set(err, NP_ESYS, NULL,
                                "the kernel refused the neighbour dump");
        if (h.nlmsg_type != RTM_NEWNEIGH ||
            mlen < NLMSG_LENGTH(sizeof(struct ndmsg)))
            goto next;
        memcpy(&nd, p + off + NLMSG_HDRLEN, sizeof(nd));
        if (nd.ndm_family != AF_INET6)
            goto next;
        memset(&e, 0, sizeof(e));
        e.complete = (nd.ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY |
                                      NUD_PROBE | NUD_PERMANENT)) != 0;
        if (if_indextoname((unsigned)nd.ndm_ifindex, e.ifname) == NULL)
            e.ifname[0] = '\0';
        aoff = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ndmsg));
        while (aoff + sizeof(struct rtattr) <= mlen) {
            struct rtattr ra;
            size_t alen, plen;

            memcpy(&ra, p + off + aoff, sizeof(ra));
            alen = ra.rta_len;
            if (alen < sizeof(ra) || alen > mlen - aoff)
                return np_error_set(err, NP_EPARSE, NULL,
                                    "truncated neighbour attribute");
            plen = alen - sizeof(ra);
            if (ra.rta_type == NDA_DST && plen == 16) {
                np_addr_from_ipv6(&e.ip, p + off + aoff + sizeof(ra), 0);
                have_dst = 1;
            } else if (ra.rta_type == NDA_LLADDR && plen == 6) {
                memcpy(e.mac, p + off + aoff + sizeof(ra), 6);
            } else if (ra.rta_type == NDA_LLADDR) {
                e.complete = 0;
            }
            aoff += RTA_ALIGN(alen);
        }
        if (have_dst && *n < NEIGH6_MAX && push(arr, n, cap, &e) != NP_OK)
            return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    next:
        off += NLMSG_ALIGN(mlen);
        if (off > len)
            break;
    }
    return NP_OK;
}

int np_netinfo_neighbours6(np_neighbour **out, size_t *n, np_error *err)
{
    struct {
        struct nlmsghdr h;
        struct ndmsg nd;
    } req;
    struct sockaddr_nl sa;
    np_neighbour *arr = NULL;
    size_t count = 0, cap = 0;
    uint8_t *buf;
    int fd, done = 0, rc = NP_OK;

    if (out == NULL || n == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no output");
    *out = NULL;
    *n = 0;
    buf = malloc(NEIGH6_BUF);
    if (buf == NULL)
        return np_error_set(err, NP_ENOMEM, NULL, "out of memory");
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        free(buf);
        return np_error_sys(err, errno, NULL, "cannot open rtnetlink");
    }
    memset(&req, 0, sizeof(req));
    req.h.nlmsg_len = sizeof(req);
    req.h.nlmsg_type = RTM_GETNEIGH;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.h.nlmsg_seq = 1;
    req.nd.ndm_family = AF_INET6;
    memset(&sa, 0, sizeof(sa));
    sa.nl_family = AF_NETLINK;
    if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&sa, sizeof(sa)) <
        0) {
        rc = np_error_sys(err, errno, NULL, "cannot ask for the neighbours");
        goto out;
    }
    while (!done) {
        ssize_t r = recv(fd, buf, NEIGH6_BUF, 0);

        if (r < 0) {
            if (errno == EINTR)
                continue;
            rc = np_error_sys(err, errno, NULL, "cannot read the neighbours");
            goto out;
        }
        if (r == 0)
            break;
        rc = np_netinfo_parse_neigh6(buf, (size_t)r, &arr, &count, &cap, &done,
                                     err);
        if (rc != NP_OK)
            goto out;
    }
out:
    close(fd);
    free(buf);
    if (rc != NP_OK) {
        free(arr);
        return rc;
    }
    *out = arr;
    *n = count;
    return NP_OK;
}

int np_netinfo_ipv6_of(const np_addr *ipv4, np_addr *out, uint8_t mac[6],
                       np_error *err)
{
    np_neighbour *v4 = NULL, *v6 = NULL;
    size_t n4 = 0, n6 = 0, i;
    uint8_t m[6];
    int found = 0, rc;

    if (ipv4 == NULL || out == NULL)
        return np_error_set(err, NP_EINVAL, NULL, "no address");
    memset(out, 0, sizeof(*out));
    rc = np_netinfo_neighbours(&v4, &n4, err);
    if (rc != NP_OK)
        return rc;
    for (i = 0; i < n4; i++)
        if (v4[i].complete && np_addr_same_ip(&v4[i].ip, ipv4)) {
            memcpy(m, v4[i].mac, 6);
            found = 1;
            break;
        }
    free(v4);
    if (!found)
        return np_error_set(err, NP_ENOTFOUND, NULL,
                            "the device is not in the IPv4 neighbour table "
                            "(is it on, and on this LAN?)");
    if (mac != NULL)
        memcpy(mac, m, 6);
    rc = np_netinfo_neighbours6(&v6, &n6, err);
    if (rc != NP_OK)
        return rc;
    found = 0;
    for (i = 0; i < n6; i++)
        if (v6[i].complete && memcmp(v6[i].mac, m, 6) == 0 &&
            np_netinfo_is_global6(&v6[i].ip)) {
            *out = v6[i].ip;
            found = 1;
            break;
        }
    free(v6);
    if (!found)
        return np_error_set(err, NP_ENOTFOUND, NULL,
                            "no global IPv6 address with the device's MAC "
                            "address in the IPv6 neighbour table");
    return NP_OK;
}
