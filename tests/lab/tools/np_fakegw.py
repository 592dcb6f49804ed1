#!/usr/bin/env python3
"""np_fakegw: a scriptable, misbehaving Internet Gateway Device for the lab.

Runs inside the router namespace of a lab (tests/lab/lib.sh) in place of
miniupnpd, for the real-router behaviours that no packaged server produces
(issue 11, docs/routers.md). Python 3 standard library only.

It serves
  - SSDP on UDP 1900: answers M-SEARCH (unicast and multicast) and sends
    ssdp:alive NOTIFYs with BOOTID.UPNP.ORG / CONFIGID.UPNP.ORG;
  - description XML over HTTP (IGDv1 and/or IGDv2, one or more WAN
    connection services, optionally a TR-064 dslforum description);
  - SOAP control: GetExternalIPAddress, GetStatusInfo, AddPortMapping,
    AddAnyPortMapping, DeletePortMapping, GetSpecificPortMappingEntry,
    GetGenericPortMappingEntry;
  - optionally PCP / NAT-PMP on UDP 5351 (answers that refuse).
Where it answers that it mapped, it really installs the forward (nftables
DNAT in the lab's prerouting_miniupnpd chain), unless the behaviour is
"success answer, no mapping": inbound packets prove or disprove a mapping.

Signals: SIGUSR1 toggles SSDP silence (HTTP keeps working); SIGUSR2 switches
the WAN address to --wan-addr2 (and back); SIGHUP is a router restart (table
flushed, BOOTID incremented, NOTIFYs sent). Every request is logged on stdout
as one line ("soap AddPortMapping ... -> 725"), so tests can count them.
"""
import argparse
import html
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

SSDP_ADDR = "239.255.255.250"
UUID_V1 = "fa4e0000-0000-4000-8000-00000000a001"
UUID_V2 = "fa4e0000-0000-4000-8000-00000000a002"
UUID_TR64 = "fa4e0000-0000-4000-8000-00000000a064"

ERRORS = {
    401: "Invalid Action", 402: "Invalid Args", 501: "Action Failed",
    606: "Action not authorized", 713: "SpecifiedArrayIndexInvalid",
    714: "NoSuchEntryInArray", 718: "ConflictInMappingEntry",
    724: "SamePortValuesRequired", 725: "OnlyPermanentLeasesSupported",
    728: "NoPortMapsAvailable", 729: "ConflictWithOtherMechanisms",
}

LOCK = threading.Lock()


def log(*a):
    with LOCK:
        print(" ".join(str(x) for x in a), flush=True)


class Gateway:
    def __init__(self, o):
        self.o = o
        self.table = {}  # (proto, eport) -> dict
        self.wan = o.wan_addr
        self.bootid = 1
        self.configid = 1
        self.ssdp_quiet = False
        self.restarted = threading.Event()
        self.lock = threading.RLock()
        b = set(o.behave or [])
        self.b = b
        for s in o.seed or []:
            # PROTO:EPORT:CLIENT:IPORT[:DESC]
            p = s.split(":", 4)
            self.table[(p[0].upper(), int(p[1]))] = dict(
                client=p[2], iport=int(p[3]),
                desc=p[4] if len(p) > 4 else "other device", lease=0,
                until=0, enabled=1, installed=False)
        self.sync_nft()

    # ---- descriptions ---------------------------------------------------
    def descs(self):
        """(path, igd version) of each IGD description served."""
        if self.o.igd == "both":
            return [("/igddesc.xml", 1), ("/igd2desc.xml", 2)]
        if self.o.igd == "1":
            return [("/rootDesc.xml", 1)]
        return [("/rootDesc.xml", 2)]

    def services(self):
        out = []
        for i, s in enumerate(self.o.wan_services.split(",")):
            kind, _, state = s.partition(":")
            out.append(dict(idx=i, kind="PPP" if kind == "ppp" else "IP",
                            state=state or "connected"))
        return out

    def desc_xml(self, ver, path):
        uuid = UUID_V2 if ver == 2 else UUID_V1
        svcs = ""
        for s in self.services():
            st = "urn:schemas-upnp-org:service:WAN%sConnection:%d" % (
                s["kind"], ver if s["kind"] == "IP" else 1)
            svcs += ("<service><serviceType>%s</serviceType>"
                     "<serviceId>urn:upnp-org:serviceId:WAN%sConn%d</serviceId>"
                     "<controlURL>/ctl/v%d/%d</controlURL>"
                     "<eventSubURL>/evt/%d</eventSubURL>"
                     "<SCPDURL>/scpd.xml</SCPDURL></service>" %
                     (st, s["kind"], s["idx"], ver, s["idx"], s["idx"]))
        return ("<?xml version=\"1.0\"?>\r\n"
                "<root xmlns=\"urn:schemas-upnp-org:device-1-0\" configId=\"%d\">"
                "<specVersion><major>1</major><minor>%d</minor></specVersion>"
                "<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:%d</deviceType>"
                "<friendlyName>np_fakegw</friendlyName><manufacturer>natpilot lab</manufacturer>"
                "<modelName>fakegw</modelName><UDN>uuid:%s</UDN>"
                "<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:%d</deviceType>"
                "<friendlyName>WAN</friendlyName><UDN>uuid:%s-w</UDN>"
                "<serviceList><service><serviceType>urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1</serviceType>"
                "<serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId>"
                "<controlURL>/ctl/cif</controlURL><eventSubURL>/evt/cif</eventSubURL>"
                "<SCPDURL>/cif.xml</SCPDURL></service></serviceList>"
                "<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:%d</deviceType>"
                "<friendlyName>WANConnection</friendlyName><UDN>uuid:%s-c</UDN>"
                "<serviceList>%s</serviceList></device></deviceList>"
                "</device></deviceList></device></root>" %
                (self.configid, 1 if ver == 2 else 0, ver, uuid, ver, uuid,
                 ver, uuid, svcs))

    def tr64_xml(self):
        return ("<?xml version=\"1.0\"?>\r\n<root xmlns=\"urn:dslforum-org:device-1-0\">"
                "<specVersion><major>1</major><minor>0</minor></specVersion>"
                "<device><deviceType>urn:dslforum-org:device:InternetGatewayDevice:1</deviceType>"
                "<friendlyName>np_fakegw TR-064</friendlyName><UDN>uuid:%s</UDN>"
                "</device></root>" % UUID_TR64)

    def url(self, path):
        # --location-host: what some firmwares put in LOCATION (TP-Link:
        # 127.0.0.1) while the HTTP server listens on the LAN address
        host = self.o.location_host or self.o.lan_addr
        return "http://%s:%d%s" % (host, self.o.http_port, path)

    # ---- the mapping table ---------------------------------------------
    def expire(self):
        now = time.monotonic()
        gone = [k for k, e in self.table.items()
                if e["until"] and e["until"] <= now]
        for k in gone:
            del self.table[k]
        if gone:
            self.sync_nft()

    def sync_nft(self):
        if self.o.no_nft:
            return
        cmds = ["flush chain inet %s %s" % (self.o.nft_table, self.o.nft_chain)]
        for (proto, eport), e in sorted(self.table.items()):
            if not e["installed"] or not e["enabled"]:
                continue
            cmds.append("add rule inet %s %s iifname \"%s\" %s dport %d "
                        "dnat ip to %s:%d" % (
                            self.o.nft_table, self.o.nft_chain, self.o.wan_if,
                            proto.lower(), eport, e["client"], e["iport"]))
        r = subprocess.run(["nft", "-f", "-"], input="\n".join(cmds) + "\n",
                           text=True, capture_output=True)
        if r.returncode != 0:
            log("nft failed:", r.stderr.strip())

    def restart(self):
        with self.lock:
            self.table = {k: e for k, e in self.table.items()
                          if not e["installed"] and e["desc"] == "other device"}
            self.bootid += 1
            self.sync_nft()
        log("restart bootid", self.bootid)
        self.restarted.set()

    # ---- SOAP -------------------------------------------------------------
    def soap(self, ver, svc_idx, action, args, peer):
        """(error code or 0, [(name, value)])"""
        with self.lock:
            self.expire()
            return self._soap(ver, svc_idx, action, args, peer)

    def _soap(self, ver, svc_idx, action, args, peer):
        b = self.b
        svc = self.services()[svc_idx]
        connected = svc["state"] == "connected"
        if action == "GetStatusInfo":
            return 0, [("NewConnectionStatus",
                        "Connected" if connected else "Disconnected"),
                       ("NewLastConnectionError", "ERROR_NONE"),
                       ("NewUptime", "1000")]
        if action == "GetExternalIPAddress":
            return 0, [("NewExternalIPAddress", self.wan if connected else "0.0.0.0")]
        if action in ("AddPortMapping", "AddAnyPortMapping"):
            return self.add(ver, action, args, peer)
        if action == "DeletePortMapping":
            k = (args.get("NewProtocol", "").upper(),
                 int(args.get("NewExternalPort", "0") or 0))
            if k not in self.table:
                return 714, []
            del self.table[k]
            self.sync_nft()
            return 0, []
        if action == "GetSpecificPortMappingEntry":
            k = (args.get("NewProtocol", "").upper(),
                 int(args.get("NewExternalPort", "0") or 0))
            e = self.table.get(k)
            if e is None:
                return 714, []
            return 0, self.entry_out(e, generic=None)
        if action == "GetGenericPortMappingEntry":
            idx = int(args.get("NewPortMappingIndex", "0") or 0)
            if "list-713" in b:
                return 713, []
            if self.o.list_500_at is not None and idx >= self.o.list_500_at:
                return -500, []
            items = sorted(self.table.items())
            if idx >= len(items):
                return 713, []
            (proto, eport), e = items[idx]
            return 0, self.entry_out(e, generic=(proto, eport))
        return 401, []

    def entry_out(self, e, generic):
        lease = 0
        if e["until"]:
            lease = max(1, int(e["until"] - time.monotonic()))
        out = []
        if generic:
            out += [("NewRemoteHost", ""), ("NewExternalPort", str(generic[1])),
                    ("NewProtocol", generic[0])]
        out += [("NewInternalPort", str(e["iport"])),
                ("NewInternalClient", e["client"]),
                ("NewEnabled", str(e["enabled"])),
                ("NewPortMappingDescription", e["desc"]),
                ("NewLeaseDuration", str(lease))]
        return out

    def add(self, ver, action, args, peer):
        b = self.b
        anyp = action == "AddAnyPortMapping"
        if anyp and ver < 2:
            return 401, []
        if anyp and "addany-drop" in b:
            return -1, []  # connection dropped
        if anyp and "addany-401" in b:
            return 401, []
        if anyp and "addany-602" in b:
            return 602, []
        try:
            proto = args["NewProtocol"].upper()
            eport = int(args["NewExternalPort"])
            iport = int(args["NewInternalPort"])
            lease = int(args.get("NewLeaseDuration", "0") or 0)
            client = args["NewInternalClient"]
            desc = args.get("NewPortMappingDescription", "")
        except (KeyError, ValueError):
            return 402, []
        if proto not in ("TCP", "UDP") or not 0 < iport < 65536 or \
                not 0 <= eport < 65536:
            return 402, []
        if ver == 2 and "v2-606" in b:
            return 606, []
        if "table-full" in b:
            return 402 if "table-full-402" in b else 728, []
        if "perm-725" in b and lease != 0:
            return 725, []
        if "perm-402" in b and lease != 0:
            return 402, []
        if "same-port-402" in b and iport != eport:
            return 402, []
        if "lease0-402" in b and lease == 0:
            return 402, []
        k = (proto, eport)
        old = self.table.get(k)
        if old is not None:
            own = old["client"] == client and old["iport"] == iport
            if own and "readd-718" in b:
                return 718, []
            if not own:
                if anyp:
                    for p in range(max(eport, 1024) + 1, 65536):
                        if (proto, p) not in self.table:
                            eport, k = p, (proto, p)
                            break
                else:
                    return (501 if "conflict-501" in b else 718), []
        stored_desc = desc
        if "blank-desc" in b:
            stored_desc = ""
        elif self.o.rewrite_desc is not None:
            stored_desc = self.o.rewrite_desc
        installed = True
        if "no-mapping" in b:
            installed = False
        if "drop-third-party" in b and client != peer:
            installed = False
        if "expire-at-once" in b and lease != 0:
            installed = False
        if installed:
            self.table[k] = dict(client=client, iport=iport, desc=stored_desc,
                                 lease=lease, enabled=1, installed=True,
                                 until=(time.monotonic() + lease) if lease else 0)
            self.sync_nft()
        if anyp:
            return 0, [("NewReservedPort", str(eport))]
        return 0, []


def soap_args(body):
    out = {}
    for m in re.finditer(r"<(New[A-Za-z]+)\s*>(.*?)</\1\s*>", body, re.S):
        out[m.group(1)] = html.unescape(m.group(2).strip())
    for m in re.finditer(r"<(New[A-Za-z]+)\s*/>", body):
        out.setdefault(m.group(1), "")
    return out


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self):
        # HTTPServer.server_bind calls getfqdn(): a DNS lookup. No DNS here.
        import socketserver
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def make_handler(gw):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, code, body, ctype="text/xml; charset=\"utf-8\""):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.send_header("Server", "Linux/5 UPnP/1.1 np_fakegw/1")
            self.end_headers()
            self.wfile.write(data)
            self.close_connection = True

        def do_GET(self):
            p = self.path
            for path, ver in gw.descs():
                if p == path:
                    log("http GET", p)
                    return self.reply(200, gw.desc_xml(ver, path))
            if p == "/tr64desc.xml" and gw.o.tr64:
                log("http GET", p)
                return self.reply(200, gw.tr64_xml())
            if p in ("/scpd.xml", "/cif.xml"):
                return self.reply(200, "<?xml version=\"1.0\"?><scpd xmlns=\"urn:schemas-upnp-org:service-1-0\"></scpd>")
            self.reply(404, "")

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0") or 0)
            body = self.rfile.read(min(n, 65536)).decode("utf-8", "replace")
            sa = self.headers.get("SOAPAction", "").strip('"')
            st, _, action = sa.partition("#")
            m = re.match(r"^/ctl/v(\d)/(\d+)$", self.path)
            if m is None:
                return self.reply(404, "")
            ver, idx = int(m.group(1)), int(m.group(2))
            if idx >= len(gw.services()):
                return self.reply(404, "")
            args = soap_args(body)
            code, out = gw.soap(ver, idx, action, args, self.client_address[0])
            log("soap v%d/%d" % (ver, idx), action,
                " ".join("%s=%s" % (k[3:], v) for k, v in sorted(args.items())),
                "->", code)
            if code == -1:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if code == -500:
                return self.reply(500, "internal error", "text/plain")
            if code:
                return self.reply(500, (
                    "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
                    "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body><s:Fault>"
                    "<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>"
                    "<UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\"><errorCode>%d</errorCode>"
                    "<errorDescription>%s</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>"
                    % (code, ERRORS.get(code, "Error"))))
            inner = "".join("<%s>%s</%s>" % (k, html.escape(v), k) for k, v in out)
            self.reply(200, (
                "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
                "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>"
                "<u:%sResponse xmlns:u=\"%s\">%s</u:%sResponse></s:Body></s:Envelope>"
                % (action, st, inner, action)))
    return H


# ---- SSDP ---------------------------------------------------------------
def ssdp_targets(gw):
    """(ST/NT, USN, LOCATION) for everything announced, in announcement order."""
    out = []
    for path, ver in gw.descs():
        uuid = UUID_V2 if ver == 2 else UUID_V1
        dt = "urn:schemas-upnp-org:device:InternetGatewayDevice:%d" % ver
        out.append((dt, "uuid:%s::%s" % (uuid, dt), gw.url(path)))
        out.append(("upnp:rootdevice", "uuid:%s::upnp:rootdevice" % uuid, gw.url(path)))
        for s in gw.services():
            st = "urn:schemas-upnp-org:service:WAN%sConnection:%d" % (
                s["kind"], ver if s["kind"] == "IP" else 1)
            out.append((st, "uuid:%s-c::%s" % (uuid, st), gw.url(path)))
    if gw.o.tr64:
        dt = "urn:dslforum-org:device:InternetGatewayDevice:1"
        out.append((dt, "uuid:%s::%s" % (UUID_TR64, dt), gw.url("/tr64desc.xml")))
    return out


def ssdp_headers(gw):
    return ("CACHE-CONTROL: max-age=120\r\nSERVER: Linux/5 UPnP/1.1 np_fakegw/1\r\n"
            "BOOTID.UPNP.ORG: %d\r\nCONFIGID.UPNP.ORG: %d\r\n" % (gw.bootid, gw.configid))


def ssdp_socks(gw):
    o = gw.o
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", 1900))
    mreq = socket.inet_aton(SSDP_ADDR) + socket.inet_aton(o.lan_addr)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    n = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    n.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(o.lan_addr))
    n.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
    n.bind((o.lan_addr, 0))
    return s, n


def ssdp_loop(gw, s, n):
    o = gw.o
    next_notify = time.monotonic()
    while True:
        if gw.restarted.is_set():
            gw.restarted.clear()
            next_notify = 0
        now = time.monotonic()
        if o.notify_interval > 0 and now >= next_notify and not gw.ssdp_quiet:
            for st, usn, loc in ssdp_targets(gw):
                msg = ("NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
                       "LOCATION: %s\r\nNT: %s\r\nNTS: ssdp:alive\r\nUSN: %s\r\n%s\r\n"
                       % (loc, st, usn, ssdp_headers(gw)))
                n.sendto(msg.encode(), (SSDP_ADDR, 1900))
            log("ssdp NOTIFY bootid", gw.bootid)
            next_notify = now + o.notify_interval
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            continue
        data, peer = s.recvfrom(2048)
        text = data.decode("latin-1")
        if not text.startswith("M-SEARCH"):
            continue
        m = re.search(r"^ST:\s*(.+?)\s*$", text, re.M | re.I)
        if m is None:
            continue
        want = m.group(1)
        if gw.ssdp_quiet:
            log("ssdp M-SEARCH (quiet)", want)
            continue
        for st, usn, loc in ssdp_targets(gw):
            if want not in (st, "ssdp:all"):
                continue
            msg = ("HTTP/1.1 200 OK\r\nST: %s\r\nUSN: %s\r\nLOCATION: %s\r\nEXT:\r\n%s\r\n"
                   % (st, usn, loc, ssdp_headers(gw)))
            s.sendto(msg.encode(), peer)
            log("ssdp answer", st, loc)


# ---- PCP / NAT-PMP --------------------------------------------------------
def pcp_loop(gw, s):
    o = gw.o
    t0 = time.monotonic()
    while True:
        data, peer = s.recvfrom(1100)
        epoch = int(time.monotonic() - t0) + 100
        if len(data) < 2:
            continue
        ver, op = data[0], data[1]
        if ver == 0 and o.natpmp != "off":
            # RFC 6886: result 3 = network failure (no public address)
            res = 3
            if op == 0:
                out = struct.pack("!BBHI4s", 0, 128, res, epoch, b"\0\0\0\0")
            elif op in (1, 2) and len(data) >= 12:
                ip, ep = struct.unpack("!HH", data[4:8])
                out = struct.pack("!BBHIHHI", 0, 128 + op, res, epoch, ip, 0, 0)
            else:
                continue
            s.sendto(out, peer)
            log("natpmp op", op, "-> result", res)
        elif ver == 2 and o.pcp != "off" and len(data) >= 24:
            if o.pcp == "refuse-all" or (o.pcp == "refuse-map" and op != 0):
                res = 2  # NOT_AUTHORIZED
            else:
                res = 0
            payload = data[24:24 + 36] if op == 1 else b""
            hdr = struct.pack("!BBBBII12s", 2, 128 + op, 0, res, 0 if res else 120,
                              epoch, b"\0" * 12)
            s.sendto(hdr + payload, peer)
            log("pcp op", op, "-> result", res)
        elif ver == 2 and o.pcp == "off" and o.natpmp != "off":
            # a NAT-PMP-only server answers UNSUPP_VERSION with version 0
            s.sendto(struct.pack("!BBH", 0, 128 + op, 1), peer)
            log("pcp request -> natpmp unsupp version")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lan-addr", required=True, help="router's LAN address")
    ap.add_argument("--http-port", type=int, default=49000)
    ap.add_argument("--wan-addr", required=True, help="external address told")
    ap.add_argument("--wan-addr2", help="address after SIGUSR2")
    ap.add_argument("--igd", choices=["1", "2", "both"], default="2",
                    help="IGDv1, IGDv2, or both (igddesc.xml + igd2desc.xml)")
    ap.add_argument("--wan-services", default="ip:connected",
                    help="comma list of ip|ppp[:connected|disconnected]")
    ap.add_argument("--location-host",
                    help="host announced in LOCATION (e.g. 127.0.0.1)")
    ap.add_argument("--tr64", action="store_true",
                    help="also announce a TR-064 (dslforum) description")
    ap.add_argument("--notify-interval", type=float, default=30,
                    help="seconds between NOTIFY rounds (0: none)")
    ap.add_argument("--behave", action="append", metavar="B",
                    help="perm-725 perm-402 same-port-402 lease0-402 "
                    "table-full table-full-402 no-mapping drop-third-party "
                    "expire-at-once list-713 v2-606 addany-drop addany-401 "
                    "addany-602 conflict-501 readd-718 blank-desc")
    ap.add_argument("--rewrite-desc", help="store this description instead")
    ap.add_argument("--list-500-at", type=int,
                    help="GetGenericPortMappingEntry: HTTP 500 from this index")
    ap.add_argument("--seed", action="append",
                    help="pre-existing entry PROTO:EPORT:CLIENT:IPORT[:DESC] "
                    "(in the table only, not forwarded)")
    ap.add_argument("--pcp", choices=["off", "refuse-map", "refuse-all", "ok"],
                    default="off")
    ap.add_argument("--natpmp", choices=["off", "result3"], default="off")
    ap.add_argument("--no-nft", action="store_true")
    ap.add_argument("--nft-table", default="nplab")
    ap.add_argument("--nft-chain", default="prerouting_miniupnpd")
    ap.add_argument("--wan-if", default="wan")
    ap.add_argument("--ready-file", help="created once every socket listens")
    o = ap.parse_args()

    gw = Gateway(o)
    httpd = Server((o.lan_addr, o.http_port), make_handler(gw))

    def on_usr1(*_):
        gw.ssdp_quiet = not gw.ssdp_quiet
        log("ssdp quiet", gw.ssdp_quiet)

    def on_usr2(*_):
        if o.wan_addr2:
            gw.wan = o.wan_addr2 if gw.wan == o.wan_addr else o.wan_addr
            log("wan address", gw.wan)

    def on_hup(*_):
        threading.Thread(target=gw.restart, daemon=True).start()

    def on_term(*_):
        gw.table = {}
        gw.sync_nft()
        os._exit(0)

    signal.signal(signal.SIGUSR1, on_usr1)
    signal.signal(signal.SIGUSR2, on_usr2)
    signal.signal(signal.SIGHUP, on_hup)
    signal.signal(signal.SIGTERM, on_term)
    threading.Thread(target=ssdp_loop, args=(gw,) + ssdp_socks(gw),
                     daemon=True).start()
    if o.pcp != "off" or o.natpmp != "off":
        ps = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ps.bind((o.lan_addr, 5351))
        threading.Thread(target=pcp_loop, args=(gw, ps), daemon=True).start()
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    log("ready", " ".join(p for p, _ in gw.descs()), "behave", sorted(gw.b))
    if o.ready_file:
        with open(o.ready_file, "w") as f:
            f.write("%d\n" % os.getpid())
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
