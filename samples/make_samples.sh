#!/usr/bin/env bash
# make_samples.sh -- regenerate provaudit's test fixture captures from real traffic.
#
# Real TLS/HTTP stacks only (openssl s_server/s_client, curl, python3 http.server,
# nghttpd), recorded with tcpdump between Linux network namespaces.  Everything
# (PKI included) is regenerated from scratch.  Needs root, iproute2, openssl
# (3.0), curl, tcpdump, python3, nghttpd (Debian's nghttp2-server), Debian's
# python3-h2 (h2c_upgrade_server.py).  Traffic
# never leaves the private namespaces created here (10.77.0.0/24, fd77::/64,
# 10.232.0.0/24).  Run:  sudo samples/make_samples.sh
#
# `make_samples.sh --only null_cipher` makes that one capture (and its keylog)
# with the committed pki/server.* and leaves everything else as it is: it
# needs no device certificate, so no new PKI. `--only tls13_hrr` likewise
# makes tls13_hrr.pcap (and its keylog): its device certificate is issued for
# it, on every run, by a CA of its own whose key is thrown away (the device
# keys of the committed pki/ are not kept), and committed as
# pki/devices/spa2102hrr.pem. `--only behind_nat` makes behind_nat.pcap, its
# two device certificates issued the same way (pki/devices/nat_spa112.pem,
# nat_spa122.pem). `--only identity_forms` makes identity_forms.pcap, its
# device certificates issued the same way (pki/devices/form_*.pem).
# `--only vendor_claims` makes vendor_claims.pcap, its device certificates
# issued the same way (pki/devices/vc_*.pem).
# `--only resumed_rsa` makes resumed_rsa.pcap (RSA key exchange, sessions
# resumed by session ID and by ticket; pki/devices/res_*.pem issued the
# same way) and `--only ccm` makes ccm.pcap and ccm.keylog (AES-CCM, AES-CCM_8
# and Camellia suites; no device certificates). These two run on addresses of
# their own, 10.231.0.0/24 (the server also gets 10.231.0.2) and port 18443.
# PROVAUDIT_SAMPLES_NS_PREFIX sets the namespaces' prefix (default pa<pid>-).
# `--only tls13_pha` makes tls13_pha.pcap (and its keylog), its device
# certificate issued the same way (pki/devices/pha_spa112.pem); `--only
# http2` makes http2.pcap (and its keylog) with nghttpd and curl, and
# `--only h2c_upgrade` h2c_upgrade.pcap with h2c_upgrade_server.py, and
# `--only tls13_early` tls13_early.pcap (and its keylog: TLS 1.3 0-RTT
# early data accepted and refused; no device certificates). These
# run on a topology of their own (below: namespaces pa-h2-*, 10.232.0.0/24,
# ports 18460-18479, 8080) and build no switch. `--only rawpk` makes
# rawpk.pcap and rawpk_srv.pcap (and their keylogs) with GnuTLS
# (gnutls-serv, gnutls-cli: Debian's gnutls-bin; OpenSSL 3.0 has no raw
# public keys), on the same pair topology, ports 18480-18481, devices
# 10.232.0.30-31; its X.509 device certificate is issued the same way
# (pki/devices/rpk_spa122.pem). `--only psk12` makes psk12.pcap (and its
# keylog): TLS 1.2 pre-shared-key suites (openssl s_server/s_client -psk),
# on the same pair topology, ports 18490-18491, device 10.232.0.40; it needs
# only the committed pki/server.* (the RSA_PSK server's certificate).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=$HERE
PKI=$HERE/pki
WORK=$(mktemp -d /tmp/provaudit-samples.XXXXXX)
PFX=${PROVAUDIT_SAMPLES_NS_PREFIX:-pa$$-}  # namespace prefix (unique per run)
SW=${PFX}sw                       # the "switch": one bridge, one port per node
SRV=${PFX}srv                     # provisioning server node
SRV4=10.77.0.2
SRV6=fd77::2
SNI=prov.example.test
TLS_HOST=$SRV4                    # where tls_get connects and s_server_req listens
TLS_PORT=443
PAIR=pa-h2-                       # tls13_pha, http2: one device and one server namespace, one veth
PAIR_SRV4=10.232.0.2
export OPENSSL_CONF=$WORK/empty.cnf   # ignore the host's openssl.cnf (seclevel etc.)
: > "$OPENSSL_CONF"

BGPIDS=()
ONLY=""
case "${1:-}" in
    "") ;;
    --only) ONLY=${2:-}
            case "$ONLY" in null_cipher|tls13_hrr|behind_nat|identity_forms|resumed_rsa|ccm|tls13_pha|http2|h2c_upgrade|vendor_claims|tls13_early|rawpk|psk12) ;;
                *) echo "make_samples.sh: --only takes null_cipher, tls13_hrr, behind_nat, identity_forms, resumed_rsa, ccm, tls13_pha, http2, h2c_upgrade, vendor_claims, tls13_early, rawpk or psk12" >&2; exit 1 ;;
            esac ;;
    *) echo "usage: make_samples.sh [--only null_cipher|tls13_hrr|behind_nat|identity_forms|resumed_rsa|ccm|tls13_pha|http2|h2c_upgrade|vendor_claims|tls13_early|rawpk|psk12]" >&2; exit 1 ;;
esac
log() { printf '[make_samples %s] %s\n' "$SECONDS" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cleanup() {
    set +e
    for p in "${BGPIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${BGPIDS[@]}"; do wait "$p" 2>/dev/null; done
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -e "^${PFX}" -e "^${PAIR}"); do
        ip netns del "$ns"
    done
    [ -n "${KEEP:-}" ] && log "work dir kept: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || die "must run as root (network namespaces, tcpdump)"
for t in ip openssl curl tcpdump python3 timeout nghttpd; do
    command -v "$t" >/dev/null || die "missing tool: $t"
done
/usr/bin/python3 -c 'import h2' 2>/dev/null || die "missing Debian's python3-h2 (h2c_upgrade_server.py)"

# ---------------------------------------------------------------------------
# PKI (test material only; regenerated on every run)
# ---------------------------------------------------------------------------
mkdir -p "$WORK/ca/new"
touch "$WORK/ca/index.txt"; echo 1000 > "$WORK/ca/serial"
cat > "$WORK/openssl.cnf" <<EOF
[ca]
default_ca = ca_any
[ca_any]
dir = $WORK/ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = pol_any
unique_subject = no
copy_extensions = none
string_mask = nombstr
[pol_any]
countryName = optional
organizationName = optional
organizationalUnitName = optional
localityName = optional
stateOrProvinceName = optional
commonName = optional
[req]
distinguished_name = dn
string_mask = nombstr
[req_utf8]
distinguished_name = dn
string_mask = utf8only
[dn]
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[v3_int]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_dev]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_srv]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:prov.example.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
CNF=$WORK/openssl.cnf

# csr NAME SUBJECT [KEYSPEC] [REQSECTION]  -> $WORK/NAME.key, $WORK/NAME.csr
csr() {
    openssl req -new -utf8 -newkey "${3:-rsa:2048}" -nodes -keyout "$WORK/$1.key" \
        -subj "$2" -config "$CNF" -section "${4:-req}" -out "$WORK/$1.csr" 2>/dev/null
}
# selfsigned NAME SUBJECT : a root CA valid 2019..2049
selfsigned() {
    csr "$1" "$2"
    openssl ca -batch -config "$CNF" -selfsign -keyfile "$WORK/$1.key" -in "$WORK/$1.csr" \
        -startdate 20190101000000Z -enddate 20490101000000Z -extfile "$CNF" -extensions v3_ca \
        -preserveDN -notext -out "$WORK/$1.pem" 2>/dev/null
}
# sign NAME ISSUER EXT [MD] [STARTDATE ENDDATE]  (openssl ca, subject kept as requested)
sign() {
    local name=$1 issuer=$2 ext=$3 md=${4:-sha256} sd=${5:-20240101000000Z} ed=${6:-20440101000000Z}
    openssl ca -batch -config "$CNF" -cert "$WORK/$issuer.pem" -keyfile "$WORK/$issuer.key" \
        -in "$WORK/$name.csr" -md "$md" -startdate "$sd" -enddate "$ed" \
        -extfile "$CNF" -extensions "$ext" -preserveDN -notext -out "$WORK/$name.pem" 2>/dev/null
}

# hrr_device_cert : the tls13_hrr device's certificate, from a CA made for it
# alone (its key is not kept; the capture's handshake is what matters)
hrr_device_cert() {
    selfsigned hrrca '/C=US/O=Sipura Technology, Inc./CN=provaudit tls13_hrr sample CA'
    csr spa2102hrr '/OU=SPA-2102/L=88012BA01313/ST=000e08131301'; sign spa2102hrr hrrca v3_dev
    cp "$WORK/spa2102hrr.pem" "$PKI/devices/spa2102hrr.pem"
}

# nat_device_certs : behind_nat's two ATAs' certificates, from a CA made for
# them alone (its key is not kept either)
nat_device_certs() {
    selfsigned natca '/C=US/O=Sipura Technology, Inc./CN=provaudit behind_nat sample CA'
    csr nat_spa112 '/OU=SPA112/L=CCQ0061AA01/ST=000e08006101'; sign nat_spa112 natca v3_dev
    csr nat_spa122 '/OU=SPA122/L=CCQ0061BB02/ST=000e08006102'; sign nat_spa122 natca v3_dev
    cp "$WORK/nat_spa112.pem" "$WORK/nat_spa122.pem" "$PKI/devices/"
}

# form_device_certs : identity_forms' certificates, from a CA made for them
# alone (its key is not kept either)
form_device_certs() {
    selfsigned formca '/C=US/O=Cisco Systems, Inc./CN=provaudit identity_forms sample CA'
    csr form_mpp '/OU=CP-8861-3PCC/L=FCH9999WXYZ/ST=0056.2b04.3617'; sign form_mpp formca v3_dev
    csr form_spa8000 '/OU=SPA8000/L=FM700F 12345/ST=000e08445566'; sign form_spa8000 formca v3_dev
    cp "$WORK/form_mpp.pem" "$WORK/form_spa8000.pem" "$PKI/devices/"
}

# vendor_claims_certs : vendor_claims' certificates: an SPA-962 certificate
# naming a MAC in Yealink's OUI, from a CA made for it alone, and a Cisco
# phone's manufacturing certificate that names only SEP<MAC>, from a CA named
# as Cisco's manufacturing CA (their keys are not kept either)
vendor_claims_certs() {
    selfsigned vcca '/C=US/O=Cisco Systems, Inc./CN=provaudit vendor_claims sample CA'
    csr vc_spa962 '/OU=SPA-962/L=88012BA01241/ST=001565aa0141'; sign vc_spa962 vcca v3_dev
    selfsigned vcmfg '/O=Cisco/CN=Cisco Manufacturing CA SHA2'
    csr vc_sep '/CN=SEP00562BAA0150'; sign vc_sep vcmfg v3_dev
    cp "$WORK/vc_spa962.pem" "$WORK/vc_sep.pem" "$PKI/devices/"
}

# resumed_device_certs : resumed_rsa's certificates, from a CA made for them
# alone (its key is not kept either)
resumed_device_certs() {
    selfsigned resca '/C=US/O=Sipura Technology, Inc./CN=provaudit resumed_rsa sample CA'
    csr res_sid '/OU=SPA-2102/L=88012BA23101/ST=000e08231001'; sign res_sid resca v3_dev
    csr res_tkt '/OU=SPA112/L=CCQ1623T0AB/ST=000e08231002'; sign res_tkt resca v3_dev
    csr res_late '/OU=SPA-3102/L=88012BA23103/ST=000e08231003'; sign res_late resca v3_dev
    cp "$WORK/res_sid.pem" "$WORK/res_tkt.pem" "$WORK/res_late.pem" "$PKI/devices/"
}

# pha_device_cert : tls13_pha's device certificate, from a CA made for it
# alone (its key is not kept either)
pha_device_cert() {
    selfsigned phaca '/C=US/O=Cisco Systems, Inc./CN=provaudit tls13_pha sample CA'
    csr pha_spa112 '/OU=SPA112/L=CCQ16141401/ST=000e08141401'; sign pha_spa112 phaca v3_dev
    cp "$WORK/pha_spa112.pem" "$PKI/devices/"
}

# rpk_device_cert : rawpk_srv's device certificate, from a CA made for it
# alone (its key is not kept either)
rpk_device_cert() {
    selfsigned rpkca '/C=US/O=Cisco Systems, Inc./CN=provaudit rawpk sample CA'
    csr rpk_spa122 '/OU=SPA122/L=CCQ18480031/ST=000e08184831'; sign rpk_spa122 rpkca v3_dev
    cp "$WORK/rpk_spa122.pem" "$PKI/devices/"
}

if [ -n "$ONLY" ]; then
    # The committed server material is all these captures need.
    cp "$PKI/server.pem" "$WORK/server.pem"; cp "$PKI/server.key" "$WORK/server.key"
    cp "$PKI/server-ca.pem" "$WORK/srvca.pem"; cp "$PKI/device-root.pem" "$WORK/devroot.pem"
    [ "$ONLY" = tls13_hrr ] && hrr_device_cert
    [ "$ONLY" = behind_nat ] && nat_device_certs
    [ "$ONLY" = identity_forms ] && form_device_certs
    [ "$ONLY" = vendor_claims ] && vendor_claims_certs
    [ "$ONLY" = resumed_rsa ] && resumed_device_certs
    [ "$ONLY" = tls13_pha ] && pha_device_cert
    [ "$ONLY" = rawpk ] && rpk_device_cert
else
rm -rf "$PKI"
mkdir -p "$PKI/devices"
log "PKI: CAs"
selfsigned devroot   '/C=US/O=Sipura Technology, Inc./CN=Sipura CA Client Root'
# look-alike: same subject name as the real device root, different key
selfsigned forgedroot '/C=US/O=Sipura Technology, Inc./CN=Sipura CA Client Root'
csr devint '/C=US/O=Sipura Technology, Inc./CN=Device Issuing CA'
sign devint devroot v3_int
selfsigned srvca '/C=US/O=Example Telco Test/CN=Provisioning Server CA'
csr server "/O=Example Telco Test/CN=$SNI"
sign server srvca v3_srv

log "PKI: device certificates"
# name -> subject; all issued by the device root unless noted
csr spa962   '/OU=SPA-962/L=88012BA01234/ST=000e08abcdef';              sign spa962 devroot v3_dev
csr generic  '/OU=cisco.com/L=ciscogeneric/ST=ciscogeneric';            sign generic devroot v3_dev
csr mpp8841  '/OU=CP-8841-3PCC/L=FCH1234ABCD/ST=00562b043615';          sign mpp8841 devroot v3_dev
csr mpp8851  '/OU=CP-8851-3PCC/L=FCH2222ABCD/ST=00562b088501';          sign mpp8851 devroot v3_dev
csr spa3102  '/OU=SPA-3102/L=88012BA03102/ST=000e08310201';             sign spa3102 devroot v3_dev
csr spa112v6 '/OU=SPA112/L=CCQ16230V6A/ST=000e08660006';                sign spa112v6 devroot v3_dev
csr spa2102l '/OU=SPA-2102/L=88012BA01010/ST=000e08101010';             sign spa2102l devroot v3_dev
csr spa504g  '/OU=SPA504G/L=CCQ162306EA/ST=8843e1050405';               sign spa504g devroot v3_dev
csr spa525g  '/OU=SPA525G/L=CBT141900G7/ST=8843e1525001';               sign spa525g devroot v3_dev
csr spa2102s '/OU=SPA-2102/L=88012BA05555/ST=000e08555555';             sign spa2102s devroot v3_dev
# chain: leaf issued by the intermediate, device sends leaf + intermediate
csr spa122c  '/OU=SPA122/L=CCQ162300AB/ST=887556000122';                sign spa122c devint v3_dev
# forged: issuer *name* identical to the real root, signed by the look-alike key
csr forged   '/OU=SPA-2102/L=88012BF00D01/ST=000e08f00d01';             sign forged forgedroot v3_dev
# validity in the past / in the future
csr expired  '/OU=SPA-2102/L=88012BE00001/ST=000e08e00001';             sign expired devroot v3_dev sha256 20200101000000Z 20210101000000Z
csr future   '/OU=SPA-2102/L=88012BFE0001/ST=000e08fe0001';             sign future devroot v3_dev sha256 20350101000000Z 20450101000000Z
# weak: RSA-1024 key, SHA-1 signature
csr weak     '/OU=SPA-942/L=88019FA42805/ST=000e08a42805' rsa:1024;     sign weak devroot v3_dev sha1
# hostile subject strings (UTF8String), for escaping tests
csr hostile  '/CN="><img src=x onerror=alert(1)> '$'\xe2\x98\x8e''/OU=<script>alert(1)<\/script>/L==HYPERLINK("https:\/\/evil.test","click")/ST='"'"'; DROP TABLE devices;--' rsa:2048 req_utf8
sign hostile devroot v3_dev

hrr_device_cert
pha_device_cert

cat "$WORK/spa122c.pem" "$WORK/devint.pem" > "$WORK/spa122c-chain.pem"
cp "$WORK/devroot.pem"    "$PKI/device-root.pem"
cp "$WORK/devint.pem"     "$PKI/device-issuing-ca.pem"
cp "$WORK/forgedroot.pem" "$PKI/forged-device-root.pem"
cp "$WORK/srvca.pem"      "$PKI/server-ca.pem"
cp "$WORK/server.pem"     "$PKI/server.pem"
cp "$WORK/server.key"     "$PKI/server.key"
for c in spa962 generic mpp8841 mpp8851 spa3102 spa112v6 spa2102l spa504g spa525g spa2102s \
         spa122c forged expired future weak hostile; do
    cp "$WORK/$c.pem" "$PKI/devices/$c.pem"
done
cat > "$PKI/README.md" <<'EOF'
# TEST-ONLY PKI -- not secret, never use outside provaudit's tests

Regenerated (new keys) by `../make_samples.sh` on every run; the captures in
`..` were recorded with exactly these certificates.

| file | what |
|---|---|
| device-root.pem | "Sipura CA Client Root" (self-signed); trust anchor for `--ca` |
| device-issuing-ca.pem | intermediate "Device Issuing CA" (signed by device-root) |
| forged-device-root.pem | look-alike root: same subject name as device-root, different key |
| server-ca.pem | "Provisioning Server CA" |
| server.pem / server.key | provisioning server cert (CN=prov.example.test) and its RSA key (for RSA-kx decryption of tls10_rsa / tls12_rsa) |
| devices/*.pem | the device (client) certificates used in the captures |
| devices/spa2102hrr.pem | tls13_hrr's device certificate, issued by a CA made for it alone (not in this folder): untrusted with `--ca device-root.pem` |
| devices/nat_spa112.pem, nat_spa122.pem | behind_nat's device certificates, issued by a CA made for them alone (not in this folder): untrusted with `--ca device-root.pem` |
| devices/form_mpp.pem, form_spa8000.pem | identity_forms' device certificates, issued by a CA made for them alone (not in this folder): untrusted with `--ca device-root.pem` |
| devices/vc_spa962.pem, vc_sep.pem | vendor_claims' device certificates, issued by CAs made for them alone (not in this folder; vc_sep's is named "Cisco Manufacturing CA SHA2"): untrusted with `--ca device-root.pem` |
| devices/res_sid.pem, res_tkt.pem, res_late.pem | resumed_rsa's device certificates, issued by a CA made for them alone (not in this folder): untrusted with `--ca device-root.pem` |
| devices/pha_spa112.pem | tls13_pha's device certificate, issued by a CA made for it alone (not in this folder): untrusted with `--ca device-root.pem` |
| devices/rpk_spa122.pem | rawpk_srv's device certificate, issued by a CA made for it alone (not in this folder): untrusted with `--ca device-root.pem` |
EOF
fi

# ---------------------------------------------------------------------------
# Topology: switch ns with bridge br0; one ns per node, veth eth0 <-> port
# ---------------------------------------------------------------------------
# Device registry: fixed MAC/IP per device across all captures.
declare -A MAC IP4 IP6 CERT CHAIN
dev() { MAC[$1]=$2; IP4[$1]=$3; IP6[$1]=$4; CERT[$1]=$5; }
#    name      MAC                IPv4          IPv6       cert
dev spa962    00:0e:08:ab:cd:ef  10.77.0.11    ""         spa962
dev gen1      00:0e:08:12:34:56  10.77.0.12    ""         generic
dev gen2      00:0e:08:65:43:21  10.77.0.13    ""         generic
dev nocert    88:43:e1:00:00:01  10.77.0.14    ""         ""
dev mpp8841   00:56:2b:04:36:15  10.77.0.15    ""         mpp8841
dev mpp8851   00:56:2b:08:85:01  10.77.0.16    ""         mpp8851
dev spa3102   00:0e:08:31:02:01  10.77.0.17    ""         spa3102
dev spa2102l  00:0e:08:10:10:10  10.77.0.18    ""         spa2102l
dev spa504g   88:43:e1:05:04:05  10.77.0.19    ""         spa504g
dev spa525g   88:43:e1:52:50:01  10.77.0.20    ""         spa525g
dev spa112v6  00:0e:08:66:00:06  ""            fd77::21   spa112v6
# plain HTTP devices
dev h2102     00:0e:08:aa:bb:cc  10.77.0.31    ""         ""
dev h501g     88:43:e1:57:dd:cc  10.77.0.32    ""         ""
dev ht46g     00:15:65:4a:a9:37  10.77.0.33    ""         ""
dev hw52p     00:15:65:11:22:33  10.77.0.34    ""         ""
dev hgxp      c0:74:ad:2b:d8:59  10.77.0.35    ""         ""
dev hsnom     00:04:13:92:2d:24  10.77.0.36    ""         ""
dev hpoly     00:04:f2:a1:b2:c3  10.77.0.37    ""         ""
# audit cases
dev clone     00:0e:08:99:99:01  10.77.0.41    ""         spa962
dev chain     88:75:56:00:01:22  10.77.0.42    ""         spa122c
dev forged    00:0e:08:f0:0d:01  10.77.0.43    ""         forged
dev expired   00:0e:08:e0:00:01  10.77.0.44    ""         expired
dev weak      00:0e:08:a4:28:05  10.77.0.45    ""         weak
dev hostile   00:0e:08:66:60:66  10.77.0.46    ""         hostile
dev sermm     00:0e:08:55:55:55  10.77.0.47    ""         spa2102s
dev future    00:0e:08:fe:00:01  10.77.0.48    ""         future
# NULL encryption
dev ht502     00:0b:82:50:20:01  10.77.0.51    ""         ""
# TLS 1.3 after a HelloRetryRequest
dev spa2102hrr 00:0e:08:13:13:01 10.77.0.52    ""         spa2102hrr
# an office's router (NAT): its units' frames all carry its MAC
dev nat       02:77:00:00:00:61  10.77.0.61    ""         ""
# how units write their identities: a dotted MAC, a serial with a space
dev formmpp   00:56:2b:04:36:17  10.77.0.63    ""         form_mpp
dev form8000  00:0e:08:44:55:66  10.77.0.64    ""         form_spa8000
# what a unit's claims say against its vendor: a MAC in another vendor's OUI,
# MACs in the URL forms of Cisco's macros, a certificate naming only SEP<MAC>
dev vcyea     00:15:65:aa:01:41  10.77.0.71    ""         vc_spa962
dev vcmac     00:0e:08:aa:01:12  10.77.0.72    ""         ""
dev vcinit    00:0e:08:aa:01:16  10.77.0.73    ""         ""
dev vcrep     00:0e:08:aa:01:17  10.77.0.74    ""         ""
dev vcsep     00:56:2b:aa:01:50  10.77.0.75    ""         vc_sep
# resumed sessions with RSA key exchange (10.231.0.0/24, server 10.231.0.2:18443)
dev ressid    00:0e:08:23:10:01  10.231.0.11   ""         res_sid
dev restkt    00:0e:08:23:10:02  10.231.0.12   ""         res_tkt
dev reslate   00:0e:08:23:10:03  10.231.0.13   ""         res_late
# AES-CCM, AES-CCM_8 and Camellia suites (no client certificates; 10.231.0.0/24,
# server 10.231.0.2:18443)
dev ccm13     00:56:2b:23:10:04  10.231.0.14   ""         ""
dev ccm13e    00:56:2b:23:10:05  10.231.0.15   ""         ""
dev ccm12     88:43:e1:23:10:06  10.231.0.16   ""         ""
dev ccm12e    88:43:e1:23:10:07  10.231.0.17   ""         ""
dev ccmec     88:43:e1:23:10:08  10.231.0.18   ""         ""
dev cam12     00:0e:08:23:10:09  10.231.0.19   ""         ""
dev cam10     00:0e:08:23:10:0a  10.231.0.20   ""         ""
CHAIN[chain]=$WORK/spa122c-chain.pem

# Turn off checksum/segmentation offloads so the capture shows real wire frames
# (no ethtool needed: legacy SIOCETHTOOL set commands).
cat > "$WORK/nooffload.py" <<'EOF'
import ctypes, fcntl, socket, struct, sys
SIOCETHTOOL = 0x8946
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for ifname in sys.argv[1:]:
    # ETHTOOL_STXCSUM, _SSG, _STSO, _SGSO, _SGRO
    for cmd in (0x17, 0x19, 0x1f, 0x24, 0x2c):
        buf = ctypes.create_string_buffer(struct.pack("II", cmd, 0))
        ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(buf))
        try:
            fcntl.ioctl(s, SIOCETHTOOL, ifr)
        except OSError as e:
            sys.stderr.write("offload %s cmd %#x: %s\n" % (ifname, cmd, e))
EOF

# node NAME MAC [IPv4] [IPv6]  (veth pair ${PFX}aN/${PFX}bN must exist, see below)
NODE_N=0
node() {
    local name=$1 mac=$2 ip4=${3:-} ip6=${4:-} ns=$PFX$1 port
    NODE_N=$((NODE_N + 1)); port=p$NODE_N
    ip netns add "$ns"
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0 \
        net.ipv6.conf.default.router_solicitations=0 net.ipv6.conf.all.router_solicitations=0
    if [ -z "$ip6" ]; then
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
    fi
    ip link set "${PFX}a$NODE_N" netns "$ns"
    ip link set "${PFX}b$NODE_N" netns "$SW"
    ip -n "$ns" link set "${PFX}a$NODE_N" name eth0
    ip -n "$SW" link set "${PFX}b$NODE_N" name "$port"
    ip -n "$ns" link set eth0 address "$mac"
    ip -n "$SW" link set "$port" address "02:77:ff:00:00:$(printf %02x $NODE_N)"
    ip -n "$SW" link set "$port" master br0 up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    [ -n "$ip4" ] && ip -n "$ns" addr add "$ip4/24" dev eth0
    [ -n "$ip6" ] && ip -n "$ns" addr add "$ip6/64" dev eth0 nodad
    PORT[$name]=$port
}
declare -A PORT

case "$ONLY" in tls13_pha|http2|h2c_upgrade|tls13_early|rawpk|psk12) ;; *)  # their own topology (below)
log "topology"
ip netns add "$SW"
ip netns exec "$SW" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$SW" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
ip -n "$SW" link set br0 up
# create all veth pairs in the root ns first, switch their offloads off in one go
# (the features stay set when the ends move into the namespaces)
NPAIRS=$(( ${#MAC[@]} + 1 )); IFS_ALL=()
for i in $(seq "$NPAIRS"); do
    ip link add "${PFX}a$i" type veth peer name "${PFX}b$i"
    IFS_ALL+=("${PFX}a$i" "${PFX}b$i")
done
python3 "$WORK/nooffload.py" "${IFS_ALL[@]}"
node srv 02:77:00:00:00:02 "$SRV4" "$SRV6"
for d in "${!MAC[@]}"; do
    node "$d" "${MAC[$d]}" "${IP4[$d]}" "${IP6[$d]}"
done
SRVPORT=${PORT[srv]}
esac

mtu() {  # mtu BYTES node...
    local m=$1; shift
    for n in "$@"; do ip -n "$PFX$n" link set eth0 mtu "$m"; done
}
flush_neigh() {
    for ns in $(ip netns list | awk '{print $1}' | grep "^${PFX}"); do
        ip -n "$ns" neigh flush all 2>/dev/null || true
    done
}

# ---------------------------------------------------------------------------
# capture / server helpers
# ---------------------------------------------------------------------------
CAP_PID=""
cap_start() {  # cap_start NAME [BPF]
    local f=$OUT/$1.pcap filter=${2:-"tcp or arp"}
    flush_neigh
    rm -f "$f"
    ip netns exec "$SW" tcpdump -Z root -i "$SRVPORT" -s 0 -U --immediate-mode -n -w "$f" "$filter" 2>"$WORK/tcpdump.log" &
    CAP_PID=$!; BGPIDS+=("$CAP_PID")
    for _ in $(seq 50); do grep -q listening "$WORK/tcpdump.log" && break; sleep 0.1; done
    grep -q listening "$WORK/tcpdump.log" || die "tcpdump did not start"
    sleep 0.3
    log "capture $1"
}
cap_stop() {
    sleep 1
    kill -INT "$CAP_PID"; wait "$CAP_PID" 2>/dev/null || true
    CAP_PID=""
}

DOC=$WORK/docroot; mkdir -p "$DOC"
profile() {  # profile PATH... : create small profile files in the docroot
    for p in "$@"; do
        printf '<flat-profile>\n  <!-- test profile %s -->\n  <Profile_Rule>https://prov.example.test/spa$MA.cfg</Profile_Rule>\n</flat-profile>\n' \
            "$p" > "$DOC/${p#/}"
    done
}

SRV_PID=""
srv_start() {  # srv_start PORT cmd... (runs in the server ns, cwd = docroot)
    local port=$1; shift
    (cd "$DOC" && exec ip netns exec "$SRV" "$@") >"$WORK/server.log" 2>&1 < /dev/null &
    SRV_PID=$!; BGPIDS+=("$SRV_PID")
    for _ in $(seq 100); do
        ip netns exec "$SRV" ss -Hltn "sport = :$port" | grep -q . && return 0
        sleep 0.05
    done
    cat "$WORK/server.log" >&2; die "server on port $port did not start"
}
srv_stop() {
    [ -n "$SRV_PID" ] || return 0
    kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=""
}
# s_server requesting (but not requiring) a client certificate, serving $DOC
s_server_req() {  # extra args...
    srv_start "$TLS_PORT" openssl s_server -accept "$TLS_PORT" -cert "$WORK/server.pem" -key "$WORK/server.key" \
        -cert_chain "$WORK/srvca.pem" -CAfile "$WORK/devroot.pem" -verify 1 -WWW "$@"
}

# tls_get DEVICE PATH UA [s_client args...] : one HTTPS GET through openssl s_client
tls_get() {
    local d=$1 path=$2 ua=$3; shift 3
    local target="$TLS_HOST:$TLS_PORT" certargs=()
    [ -z "${IP4[$d]}" ] && target="[$SRV6]:443"
    if [ -n "${CERT[$d]}" ]; then
        certargs=(-cert "$WORK/${CERT[$d]}.pem" -key "$WORK/${CERT[$d]}.key")
        [ -n "${CHAIN[$d]:-}" ] && certargs+=(-cert_chain "${CHAIN[$d]}")
    fi
    profile "$path"
    printf 'GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\nConnection: close\r\n\r\n' \
        "$path" "$SNI" "$ua" > "$WORK/req.txt"
    if ! ip netns exec "$PFX$d" timeout 20 openssl s_client -connect "$target" -servername "$SNI" \
            -CAfile "$WORK/srvca.pem" "${certargs[@]}" -ign_eof "$@" \
            < "$WORK/req.txt" > "$WORK/client-$d.log" 2>&1; then
        cat "$WORK/client-$d.log" >&2; die "s_client from $d failed"
    fi
    grep -q 'HTTP/1.0 200' "$WORK/client-$d.log" || { cat "$WORK/client-$d.log" >&2; die "no HTTP 200 for $d"; }
    sleep 0.2
}

http_get() {  # http_get DEVICE UA URLPATH... (all URLs on one keep-alive connection)
    local d=$1 ua=$2; shift 2
    local urls=()
    for p in "$@"; do urls+=("http://$SRV4${p}"); done
    ip netns exec "$PFX$d" timeout 20 curl -sS --fail -o /dev/null -o /dev/null -o /dev/null \
        -A "$ua" "${urls[@]}" || die "curl from $d failed"
    sleep 0.2
}

# ---------------------------------------------------------------------------
# Captures on a topology of their own: one server and one device namespace
# joined by one veth (${PAIR}srv, ${PAIR}dev; 10.232.0.0/24; ports
# 18460-18479), made before the switch is built (and without it for --only).
# ---------------------------------------------------------------------------
pair_up() {  # pair_up DEVICE_MAC DEVICE_IPv4
    ip netns add "${PAIR}srv"; ip netns add "${PAIR}dev"
    ip link add "${PAIR}s" type veth peer name "${PAIR}d"
    python3 "$WORK/nooffload.py" "${PAIR}s" "${PAIR}d"
    ip link set "${PAIR}s" netns "${PAIR}srv"; ip link set "${PAIR}d" netns "${PAIR}dev"
    ip -n "${PAIR}srv" link set "${PAIR}s" name eth0; ip -n "${PAIR}dev" link set "${PAIR}d" name eth0
    ip -n "${PAIR}srv" link set eth0 address 02:e8:00:00:00:02; ip -n "${PAIR}dev" link set eth0 address "$1"
    for n in srv dev; do
        ip netns exec "${PAIR}$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
        ip -n "${PAIR}$n" link set lo up; ip -n "${PAIR}$n" link set eth0 up
    done
    ip -n "${PAIR}srv" addr add "$PAIR_SRV4/24" dev eth0; ip -n "${PAIR}dev" addr add "$2/24" dev eth0
}
pair_down() { ip netns del "${PAIR}srv"; ip netns del "${PAIR}dev"; }
pair_cap_start() {  # pair_cap_start NAME : tcpdump on the server's eth0
    local f=$OUT/$1.pcap
    rm -f "$f"
    ip netns exec "${PAIR}srv" tcpdump -Z root -i eth0 -s 0 -U --immediate-mode -n -w "$f" "tcp or arp" 2>"$WORK/tcpdump.log" &
    CAP_PID=$!; BGPIDS+=("$CAP_PID")
    for _ in $(seq 50); do grep -q listening "$WORK/tcpdump.log" && break; sleep 0.1; done
    grep -q listening "$WORK/tcpdump.log" || die "tcpdump did not start"
    sleep 0.3
    log "capture $1"
}
pair_wait_port() {  # pair_wait_port PORT
    for _ in $(seq 100); do
        ip netns exec "${PAIR}srv" ss -Hltn "sport = :$1" | grep -q . && return 0
        sleep 0.05
    done
    cat "$WORK/server.log" >&2; die "server on port $1 did not start"
}

# ---------------------------------------------------------------------------
# 14. tls13_pha: TLS 1.3 post-handshake client authentication (RFC 8446
#     §4.6.2) (+ keylog). The server asks for no certificate in the
#     handshake; after the first request it sends a CertificateRequest
#     (interactive s_server's 'c'), the client (s_client -enable_pha)
#     answers with its SPA112 certificate under the application traffic
#     keys, sends a second request, the server's KeyUpdate asks the client to
#     update its keys too ('K'), and a third request follows.
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = tls13_pha ]; then
PHA_UA='Cisco/SPA112-1.4.1(SR5) (CCQ16141401)'
pair_up 00:0e:08:14:14:01 10.232.0.11
rm -f "$WORK/pha.in" "$WORK/pha-cli.in"; mkfifo "$WORK/pha.in" "$WORK/pha-cli.in"
(exec ip netns exec "${PAIR}srv" openssl s_server -accept 18460 -cert "$WORK/server.pem" -key "$WORK/server.key" \
    -cert_chain "$WORK/srvca.pem" -CAfile "$WORK/phaca.pem" -tls1_3 -naccept 1 -crlf) \
    < "$WORK/pha.in" > "$WORK/server.log" 2>&1 &
SRV_PID=$!; BGPIDS+=("$SRV_PID")
exec 7>"$WORK/pha.in"
pair_wait_port 18460
pair_cap_start tls13_pha
ip netns exec "${PAIR}dev" timeout 30 openssl s_client -connect "$PAIR_SRV4:18460" -servername "$SNI" \
    -CAfile "$WORK/srvca.pem" -cert "$WORK/pha_spa112.pem" -key "$WORK/pha_spa112.key" -tls1_3 -enable_pha \
    -ign_eof -keylogfile "$WORK/tls13_pha.keylog" < "$WORK/pha-cli.in" > "$WORK/client-pha.log" 2>&1 &
CLI_PID=$!; BGPIDS+=("$CLI_PID")
exec 8>"$WORK/pha-cli.in"
pha_get() { printf 'GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\n\r\n' "$1" "$SNI" "$PHA_UA" >&8; sleep 1; }
sleep 1
pha_get /spa000e08141401.cfg
echo c >&7; sleep 1                          # CertificateRequest after the handshake
pha_get /spa000e08141401-2.cfg
echo K >&7; sleep 1                          # KeyUpdate, update_requested
pha_get /spa000e08141401-3.cfg
echo q >&7; sleep 0.5
exec 7>&- 8>&-
wait "$CLI_PID" || true
wait "$SRV_PID" || true; SRV_PID=""
cap_stop; pair_down
for p in /spa000e08141401.cfg /spa000e08141401-2.cfg /spa000e08141401-3.cfg; do
    grep -q "GET $p " "$WORK/server.log" || { cat "$WORK/server.log" >&2; die "tls13_pha: $p not seen"; }
done
grep -q 'depth=0 OU = SPA112' "$WORK/server.log" || die "tls13_pha: no client certificate after the handshake"
cp "$WORK/tls13_pha.keylog" "$OUT/tls13_pha.keylog"
fi
# ---------------------------------------------------------------------------
# 15. http2: a Yealink's profile fetches over HTTP/2 (curl, nghttpd) (+
#     keylog): two requests on one TLS connection (ALPN h2: the second's
#     User-Agent comes from the HPACK dynamic table), then two connections
#     in clear with prior knowledge (h2c, the preface first; curl 7.88 fails
#     a second request on a prior-knowledge connection, so one each).
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = http2 ]; then
H2_UA='Yealink SIP-T54W 96.86.0.100 80:5e:c0:aa:bb:01'
profile /805ec0aabb01.cfg /y000000000044.cfg
pair_up 80:5e:c0:aa:bb:01 10.232.0.12
(cd "$DOC" && exec ip netns exec "${PAIR}srv" nghttpd -d "$DOC" 18461 "$WORK/server.key" "$WORK/server.pem") \
    > "$WORK/server.log" 2>&1 < /dev/null &
SRV_PID=$!; BGPIDS+=("$SRV_PID")
(cd "$DOC" && exec ip netns exec "${PAIR}srv" nghttpd -d "$DOC" --no-tls 18462) > "$WORK/server-h2c.log" 2>&1 < /dev/null &
H2C_PID=$!; BGPIDS+=("$H2C_PID")
pair_wait_port 18461; pair_wait_port 18462
pair_cap_start http2
SSLKEYLOGFILE="$WORK/http2.keylog" ip netns exec "${PAIR}dev" timeout 20 curl -sS --fail --http2 \
    --cacert "$WORK/srvca.pem" --resolve "$SNI:18461:$PAIR_SRV4" -A "$H2_UA" -o /dev/null -o /dev/null \
    "https://$SNI:18461/805ec0aabb01.cfg" "https://$SNI:18461/y000000000044.cfg" || die "http2: curl over TLS failed"
sleep 0.3
for p in /805ec0aabb01.cfg /y000000000044.cfg; do
    ip netns exec "${PAIR}dev" timeout 20 curl -sS --fail --http2-prior-knowledge -A "$H2_UA" -o /dev/null \
        "http://$PAIR_SRV4:18462$p" || die "http2: curl h2c failed"
    sleep 0.3
done
cap_stop
kill "$SRV_PID" "$H2C_PID" 2>/dev/null || true; wait "$SRV_PID" "$H2C_PID" 2>/dev/null || true; SRV_PID=""
pair_down
cp "$WORK/http2.keylog" "$OUT/http2.keylog"
fi
# ---------------------------------------------------------------------------
# 16. h2c_upgrade: a Yealink fetches two files on one connection in clear that
#     it upgrades to HTTP/2 (curl --http2 on http://: the first request is
#     HTTP/1.1 with Upgrade: h2c, h2c_upgrade_server.py answers 101, then
#     the preface and the second request as HTTP/2). Port 8080, which tshark
#     reads as HTTP and follows into HTTP/2 by itself.
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = h2c_upgrade ]; then
UP_UA='Yealink SIP-T46U 108.86.0.45 80:5e:c0:aa:bb:02'
profile /805ec0aabb02.cfg /y000000000108.cfg
pair_up 80:5e:c0:aa:bb:02 10.232.0.13
ip netns exec "${PAIR}srv" /usr/bin/python3 "$HERE/h2c_upgrade_server.py" "$PAIR_SRV4" 8080 > "$WORK/server-up.log" 2>&1 < /dev/null &
SRV_PID=$!; BGPIDS+=("$SRV_PID")
pair_wait_port 8080
pair_cap_start h2c_upgrade
ip netns exec "${PAIR}dev" timeout 20 curl -sS --fail --http2 -A "$UP_UA" -o /dev/null -o /dev/null \
    "http://$PAIR_SRV4:8080/805ec0aabb02.cfg" "http://$PAIR_SRV4:8080/y000000000108.cfg" || die "h2c_upgrade: curl failed"
cap_stop
kill "$SRV_PID" 2>/dev/null || true; wait "$SRV_PID" 2>/dev/null || true; SRV_PID=""
pair_down
fi
# ---------------------------------------------------------------------------
# 17. tls13_early: TLS 1.3 0-RTT early data (RFC 8446 §2.3, §4.2.10) (+
#     keylog). An SPA962 takes a ticket in a full handshake (s_client
#     -sess_out; a server that allows early data, so the ticket does), then
#     resumes it sending its first request as early data (s_client -sess_in
#     -early_data), the server accepting it, and a second request after the
#     handshake. Then it offers the same ticket and early data to a server
#     that does not take early data (a second s_server without -early_data,
#     whose ticket keys are its own): that server refuses the early data and
#     skips it (a full handshake), and the request after the handshake is
#     read. The key log holds CLIENT_EARLY_TRAFFIC_SECRET for both.
#     Ports 18470-18471, device 10.232.0.20.
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = tls13_early ]; then
EARLY_UA='Cisco/SPA962-6.1.5(a) (88012BA0E020)'
early_req() {  # early_req PATH [NOTE]: one HTTP request as the SPA962 sends it
    printf 'GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s%s\r\n\r\n' "$1" "$SNI" "$EARLY_UA" "${2:+ $2}"
}
pair_up 00:0e:08:0e:00:20 10.232.0.20
# The servers' stdin stays open (s_server ends a connection at its EOF).
rm -f "$WORK/early.in" "$WORK/noearly.in"; mkfifo "$WORK/early.in" "$WORK/noearly.in"
(exec ip netns exec "${PAIR}srv" openssl s_server -accept 18470 -cert "$WORK/server.pem" -key "$WORK/server.key" \
    -cert_chain "$WORK/srvca.pem" -tls1_3 -early_data -naccept 2) < "$WORK/early.in" > "$WORK/server-early.log" 2>&1 &
SRV_PID=$!; BGPIDS+=("$SRV_PID")
(exec ip netns exec "${PAIR}srv" openssl s_server -accept 18471 -cert "$WORK/server.pem" -key "$WORK/server.key" \
    -cert_chain "$WORK/srvca.pem" -tls1_3 -naccept 1) < "$WORK/noearly.in" > "$WORK/server-noearly.log" 2>&1 &
SRV2_PID=$!; BGPIDS+=("$SRV2_PID")
exec 7>"$WORK/early.in" 9>"$WORK/noearly.in"
pair_wait_port 18470; pair_wait_port 18471
pair_cap_start tls13_early
early_cli() {  # early_cli PORT LOG ARGS... : stdin is the request after the handshake
    ip netns exec "${PAIR}dev" timeout 20 openssl s_client -connect "$PAIR_SRV4:$1" -servername "$SNI" \
        -CAfile "$WORK/srvca.pem" -tls1_3 -keylogfile "$WORK/tls13_early.keylog" "${@:3}" > "$2" 2>&1
}
# The first connection: a full handshake; the ticket arrives after it.
(early_req /spa000e080e0020.cfg; sleep 1) | early_cli 18470 "$WORK/client-early0.log" -sess_out "$WORK/early.sess"
sleep 0.5
early_req /early.cfg early > "$WORK/early.data"
(sleep 1; early_req /spa962.cfg; sleep 1) | early_cli 18470 "$WORK/client-early1.log" \
    -sess_in "$WORK/early.sess" -early_data "$WORK/early.data"
sleep 0.5
(sleep 1; early_req /spa962-refused.cfg; sleep 1) | early_cli 18471 "$WORK/client-early2.log" \
    -sess_in "$WORK/early.sess" -early_data "$WORK/early.data"
cap_stop
exec 7>&- 9>&-
kill "$SRV_PID" "$SRV2_PID" 2>/dev/null || true; wait "$SRV_PID" "$SRV2_PID" 2>/dev/null || true; SRV_PID=""
pair_down
grep -q 'Early data was accepted' "$WORK/client-early1.log" || { cat "$WORK/client-early1.log" >&2; die "tls13_early: early data not accepted"; }
grep -q 'Early data was rejected' "$WORK/client-early2.log" || { cat "$WORK/client-early2.log" >&2; die "tls13_early: early data not refused"; }
grep -q 'GET /early.cfg ' "$WORK/server-early.log" || { cat "$WORK/server-early.log" >&2; die "tls13_early: early request not read"; }
grep -q 'GET /spa962-refused.cfg ' "$WORK/server-noearly.log" || die "tls13_early: request after refused early data not read"
grep -q CLIENT_EARLY_TRAFFIC_SECRET "$WORK/tls13_early.keylog" || die "tls13_early: no early secret logged"
cp "$WORK/tls13_early.keylog" "$OUT/tls13_early.keylog"
fi
# ---------------------------------------------------------------------------
# 18. rawpk, rawpk_srv: RFC 7250 raw public keys (GnuTLS; OpenSSL 3.0 has
#     none) (+ keylogs). gnutls-serv --http, one for TLS 1.2 (18480), one
#     for TLS 1.3 (18481), each with an X.509 certificate and a raw key
#     (the same server key), requiring a client certificate and accepting
#     every certificate type. rawpk: an SPA112 whose client offers only
#     RawPublicKey for itself authenticates with a bare key (TLS 1.2: the
#     type in the ServerHello; TLS 1.3: in EncryptedExtensions), one GET
#     each. rawpk_srv: an SPA122 with an X.509 certificate that accepts only
#     a raw key from the server, one GET each.
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = rawpk ]; then
openssl pkey -in "$WORK/server.key" -pubout -out "$WORK/server.rawpk.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/rpk_spa112.key"
openssl pkey -in "$WORK/rpk_spa112.key" -pubout -out "$WORK/rpk_spa112.rawpk.pem"
RPK_PIDS=()
rpk_servers() {  # gnutls-serv for TLS 1.2 on 18480 and TLS 1.3 on 18481
    local v port
    RPK_PIDS=()
    for v in 1.2:18480 1.3:18481; do
        port=${v#*:}
        ip netns exec "${PAIR}srv" gnutls-serv --http --port "$port" --x509certfile "$WORK/server.pem" \
            --x509keyfile "$WORK/server.key" --rawpkfile "$WORK/server.rawpk.pem" --rawpkkeyfile "$WORK/server.key" \
            --require-client-cert --priority "NORMAL:-VERS-ALL:+VERS-TLS${v%:*}:+CTYPE-CLI-ALL:+CTYPE-SRV-ALL" \
            > "$WORK/server-$port.log" 2>&1 < /dev/null &
        BGPIDS+=("$!"); RPK_PIDS+=("$!")
        cp "$WORK/server-$port.log" "$WORK/server.log"  # what pair_wait_port shows when it fails
        pair_wait_port "$port"
    done
}
rpk_get() {  # rpk_get NAME UA PATH PORT VERSION CTYPES CLIENT-CREDENTIAL-OPTIONS...
    local name=$1 ua=$2 path=$3 port=$4 version=$5 ctypes=$6; shift 6
    { printf 'GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: %s\r\n\r\n' "$path" "$SNI" "$ua"; sleep 1; } |
        SSLKEYLOGFILE="$WORK/$name.keylog" ip netns exec "${PAIR}dev" timeout 20 gnutls-cli --port "$port" --insecure \
            --sni-hostname "$SNI" "$@" --priority "NORMAL:-VERS-ALL:+VERS-TLS$version:$ctypes" "$PAIR_SRV4" \
            >> "$WORK/client-$name.log" 2>&1 || die "$name: gnutls-cli to $port failed"
    sleep 0.3
}
RPK_UA='Cisco/SPA112-1.4.1(SR5) (CCQ18480030)'
pair_up 00:0e:08:18:48:30 10.232.0.30
rpk_servers
pair_cap_start rawpk
for v in 1.2:18480 1.3:18481; do
    rpk_get rawpk "$RPK_UA" /spa000e08184830.cfg "${v#*:}" "${v%:*}" -CTYPE-CLI-ALL:+CTYPE-CLI-RAWPK:+CTYPE-SRV-ALL \
        --rawpkfile "$WORK/rpk_spa112.rawpk.pem" --rawpkkeyfile "$WORK/rpk_spa112.key"
done
cap_stop
kill "${RPK_PIDS[@]}" 2>/dev/null || true; wait "${RPK_PIDS[@]}" 2>/dev/null || true
pair_down
[ "$(grep -c 'Certificate type: Raw Public Key' "$WORK/server-18480.log" "$WORK/server-18481.log" | awk -F: '{s+=$2} END {print s}')" -ge 2 ] ||
    { cat "$WORK/server-18480.log" "$WORK/server-18481.log" >&2; die "rawpk: the server saw no raw public key"; }
RPK_SRV_UA='Cisco/SPA122-1.4.1(SR5) (CCQ18480031)'
pair_up 00:0e:08:18:48:31 10.232.0.31
rpk_servers
pair_cap_start rawpk_srv
for v in 1.2:18480 1.3:18481; do
    rpk_get rawpk_srv "$RPK_SRV_UA" /spa000e08184831.cfg "${v#*:}" "${v%:*}" +CTYPE-CLI-ALL:-CTYPE-SRV-ALL:+CTYPE-SRV-RAWPK \
        --x509certfile "$WORK/rpk_spa122.pem" --x509keyfile "$WORK/rpk_spa122.key"
done
cap_stop
kill "${RPK_PIDS[@]}" 2>/dev/null || true; wait "${RPK_PIDS[@]}" 2>/dev/null || true
pair_down
[ "$(grep -c 'Certificate type: Raw Public Key' "$WORK/client-rawpk_srv.log")" -ge 2 ] ||
    { cat "$WORK/client-rawpk_srv.log" >&2; die "rawpk_srv: the client saw no raw public key"; }
cp "$WORK/rawpk.keylog" "$OUT/rawpk.keylog"; cp "$WORK/rawpk_srv.keylog" "$OUT/rawpk_srv.keylog"
fi
# ---------------------------------------------------------------------------
# 19. psk12: TLS 1.2 pre-shared-key suites (RFC 4279, RFC 5487, RFC 5489,
#     RFC 7905) (+ keylog). An SPA122 whose PSK (and identity) were
#     provisioned fetches its profiles from a server that authenticates it
#     by that key: no certificate either way, no CertificateRequest (RFC
#     4279 §2: none is possible). One connection per suite on port 18490
#     (s_server -nocert): PSK with AES-128-GCM (0x00a8), ECDHE_PSK with
#     ChaCha20-Poly1305 (0xccac), DHE_PSK with AES-256-CBC HMAC-SHA384
#     (0x00b3), PSK with NULL encryption (0x00b0: readable without keys);
#     and RSA_PSK with AES-256-GCM (0x00ad) on port 18491, whose server
#     shows its certificate (pki/server.*). Device 10.232.0.40.
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = psk12 ]; then
PSK_KEY=5350413132322d3030306530383138343934302d70736b
PSK_ID=spa122-000e08184940
PSK_UA='Cisco/SPA122-1.4.1(SR5) (000E08184940)(CCQ18490040)'
PSK_SUITES='PSK-AES128-GCM-SHA256:ECDHE-PSK-CHACHA20-POLY1305:DHE-PSK-AES256-CBC-SHA384:PSK-NULL-SHA256:@SECLEVEL=0'
profile /spa000e08184940.cfg /spa122.cfg /init_000e08184940.xml /spa122-null.cfg /spa122-rsapsk.cfg
pair_up 00:0e:08:18:49:40 10.232.0.40
(cd "$DOC" && exec ip netns exec "${PAIR}srv" openssl s_server -accept 18490 -nocert -psk "$PSK_KEY" \
    -psk_hint provaudit-psk12 -tls1_2 -cipher "$PSK_SUITES" -WWW) > "$WORK/server-psk.log" 2>&1 < /dev/null &
SRV_PID=$!; BGPIDS+=("$SRV_PID")
(cd "$DOC" && exec ip netns exec "${PAIR}srv" openssl s_server -accept 18491 -cert "$WORK/server.pem" \
    -key "$WORK/server.key" -cert_chain "$WORK/srvca.pem" -psk "$PSK_KEY" -tls1_2 \
    -cipher RSA-PSK-AES256-GCM-SHA384 -WWW) > "$WORK/server-rsapsk.log" 2>&1 < /dev/null &
SRV2_PID=$!; BGPIDS+=("$SRV2_PID")
cp "$WORK/server-psk.log" "$WORK/server.log"; pair_wait_port 18490
cp "$WORK/server-rsapsk.log" "$WORK/server.log"; pair_wait_port 18491
pair_cap_start psk12
psk_get() {  # psk_get PORT SUITE PATH : one GET over TLS 1.2 with that suite, authenticated by the PSK
    printf 'GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\nConnection: close\r\n\r\n' \
        "$3" "$SNI" "$PSK_UA" > "$WORK/req.txt"
    ip netns exec "${PAIR}dev" timeout 20 openssl s_client -connect "$PAIR_SRV4:$1" -servername "$SNI" \
        -CAfile "$WORK/srvca.pem" -psk "$PSK_KEY" -psk_identity "$PSK_ID" -tls1_2 -cipher "$2:@SECLEVEL=0" \
        -keylogfile "$WORK/psk12.keylog" -ign_eof < "$WORK/req.txt" > "$WORK/client-psk-$2.log" 2>&1 ||
        { cat "$WORK/client-psk-$2.log" >&2; die "psk12: s_client with $2 failed"; }
    grep -q "Cipher is $2\$" "$WORK/client-psk-$2.log" || { cat "$WORK/client-psk-$2.log" >&2; die "psk12: $2 not negotiated"; }
    grep -q 'HTTP/1.0 200' "$WORK/client-psk-$2.log" || { cat "$WORK/client-psk-$2.log" >&2; die "psk12: no HTTP 200 with $2"; }
    sleep 0.3
}
psk_get 18490 PSK-AES128-GCM-SHA256 /spa000e08184940.cfg
psk_get 18490 ECDHE-PSK-CHACHA20-POLY1305 /spa122.cfg
psk_get 18490 DHE-PSK-AES256-CBC-SHA384 /init_000e08184940.xml
psk_get 18490 PSK-NULL-SHA256 /spa122-null.cfg
psk_get 18491 RSA-PSK-AES256-GCM-SHA384 /spa122-rsapsk.cfg
cap_stop
kill "$SRV_PID" "$SRV2_PID" 2>/dev/null || true; wait "$SRV_PID" "$SRV2_PID" 2>/dev/null || true; SRV_PID=""
pair_down
cp "$WORK/psk12.keylog" "$OUT/psk12.keylog"
fi
case "$ONLY" in tls13_pha|http2|h2c_upgrade|tls13_early|rawpk|psk12) log "done: $OUT/$ONLY.pcap"; exit 0 ;; esac

# ---------------------------------------------------------------------------
# 10. null_cipher: a legacy ATA fetches its profile over TLS 1.2 with a suite
#     that authenticates but does not encrypt (ECDHE-RSA-NULL-SHA, 0xc010),
#     from a server that offers it and never asks for a client certificate.
#     The request travels readable; with the keylog, tshark dissects it.
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = null_cipher ]; then
NULL_SUITE='ECDHE-RSA-NULL-SHA:@SECLEVEL=0'
srv_start 443 openssl s_server -accept 443 -cert "$WORK/server.pem" -key "$WORK/server.key" \
    -cert_chain "$WORK/srvca.pem" -WWW -tls1_2 -cipher "$NULL_SUITE"
cap_start null_cipher
tls_get ht502 /cfg000b82502001.xml 'Grandstream Model HW HT502 V1.2A SW 1.0.8.6 DevId 000b82502001' \
    -tls1_2 -cipher "$NULL_SUITE" -keylogfile "$WORK/null_cipher.keylog"
cap_stop; srv_stop
grep -q 'Cipher is ECDHE-RSA-NULL-SHA' "$WORK/client-ht502.log" || die "null_cipher: another suite was negotiated"
cp "$WORK/null_cipher.keylog" "$OUT/null_cipher.keylog"
fi

# ---------------------------------------------------------------------------
# 11. tls13_hrr: TLS 1.3 with a client certificate after a HelloRetryRequest
#     (+ keylog). The client's key share (P-384) is for a group the server
#     does not take (X25519, P-256): the server asks again for P-256. Both
#     sides send middlebox-compatibility ChangeCipherSpecs around it.
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = tls13_hrr ]; then
s_server_req -tls1_3 -groups X25519:P-256
cap_start tls13_hrr
tls_get spa2102hrr /spa000e08131301.cfg 'Linksys/SPA-2102-5.2.10 (88012BA01313)' \
    -tls1_3 -groups P-384:P-256 -keylogfile "$WORK/tls13_hrr.keylog"
cap_stop; srv_stop
cp "$WORK/tls13_hrr.keylog" "$OUT/tls13_hrr.keylog"
fi
# ---------------------------------------------------------------------------
# 12. behind_nat: an office behind one router, as a SPAN port at the
#     provisioning server sees it: every frame from the router's MAC. Two ATAs
#     (certificates of their own) and a Yealink (plain HTTP) share the address
#     10.77.0.61; then the router hands 10.77.0.62 to the first ATA (a new
#     lease). Three devices, each keyed by the MAC its own connections name.
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = behind_nat ]; then
[ -z "$ONLY" ] && nat_device_certs
profile /spa000e08006101.cfg /spa000e08006102.cfg /805ec0006103.cfg
cap_start behind_nat
s_server_req -tls1_2
CERT[nat]=nat_spa112; tls_get nat /spa000e08006101.cfg 'Cisco/SPA112-1.4.1(SR5) (CCQ0061AA01)'
CERT[nat]=nat_spa122; tls_get nat /spa000e08006102.cfg 'Cisco/SPA122-1.4.2 (CCQ0061BB02)'
srv_stop
srv_start 80 python3 -m http.server 80 --bind "$SRV4"
CERT[nat]=""; http_get nat 'Yealink SIP-T46G 28.72.0.1 80:5e:c0:00:61:03' /805ec0006103.cfg
srv_stop
ip -n "${PFX}nat" addr del 10.77.0.61/24 dev eth0
ip -n "${PFX}nat" addr add 10.77.0.62/24 dev eth0
s_server_req -tls1_2
CERT[nat]=nat_spa112; tls_get nat /spa000e08006101.cfg 'Cisco/SPA112-1.4.1(SR5) (CCQ0061AA01)'
cap_stop; srv_stop
CERT[nat]=""
fi
# ---------------------------------------------------------------------------
# 13. identity_forms: how units write their identities. An MPP phone whose
#     certificate gives its MAC in Cisco's dotted notation (ST=0056.2b04.3617)
#     and whose firmware carries a suffix (11.3.7(MPP)_rc1); an SPA8000 whose
#     certificate's serial has a space (L=FM700F 12345) while its User-Agent
#     says FM700F123456 (serial-mismatch). Their User-Agents over plain HTTP.
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = identity_forms ]; then
[ -z "$ONLY" ] && form_device_certs
profile /spa000e08445566.cfg /CP-8861-3PCC.cfg
cap_start identity_forms
s_server_req -tls1_2
tls_get formmpp /CP-8861-3PCC.cfg 'Cisco-CP-8861-3PCC/11.3.7(MPP)_rc1 (00562B043617)'
tls_get form8000 /spa000e08445566.cfg 'Linksys/SPA8000-6.1.12 (FM700F123456)'
srv_stop
srv_start 80 python3 -m http.server 80 --bind "$SRV4"
http_get formmpp 'Cisco-CP-8861-3PCC/11.3.7(MPP)_rc1 (00562B043617)' /CP-8861-3PCC.cfg
http_get form8000 'Linksys/SPA8000-6.1.12 (FM700F123456)' /spa000e08445566.cfg
cap_stop; srv_stop
fi
# ---------------------------------------------------------------------------
# 13b. vendor_claims: what a unit's claims say against its vendor (domain.md
#     §1.3, §2.2, §3.1). An SPA-962 whose certificate and frames name a MAC
#     in Yealink's OUI (claim-mismatch); SPA units whose URLs carry their MAC
#     as Cisco's $MAC macro writes it (colons: /spa$MAC.cfg,
#     /cfg/init_$MAC.xml) and one that POSTs its report to the Report_Rule
#     example's /$MA/rep.xml.enc; a Cisco phone whose manufacturing
#     certificate names only CN=SEP<MAC>.
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = vendor_claims ]; then
[ -z "$ONLY" ] && vendor_claims_certs
cat > "$WORK/vc_httpd.py" <<'EOF'
import http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "prov-httpd/1.0"
    sys_version = ""
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
http.server.ThreadingHTTPServer((sys.argv[1], 80), H).serve_forever()
EOF
profile /spa001565aa0141.cfg /SEP00562BAA0150.cnf.xml
mkdir -p "$DOC/cfg"
profile /spa00:0e:08:aa:01:12.cfg /cfg/init_00:0e:08:aa:01:16.xml
cap_start vendor_claims
s_server_req -tls1_2
tls_get vcyea /spa001565aa0141.cfg 'Linksys/SPA-962-6.1.5(a) (88012BA01241)'
tls_get vcsep /SEP00562BAA0150.cnf.xml 'Cisco-CP-8861/14.1.1'
srv_stop
srv_start 80 python3 "$WORK/vc_httpd.py" "$SRV4"
http_get vcmac 'Linksys/SPA-2102-5.2.10 (88012BA01112)' /spa00:0e:08:aa:01:12.cfg
http_get vcinit 'Linksys/SPA-942-6.1.5(a) (88019FA00116)' /cfg/init_00:0e:08:aa:01:16.xml
ip netns exec "${PFX}vcrep" timeout 20 curl -sS --fail -o /dev/null -A 'Linksys/SPA-3102-5.1.10(GW) (88012BA00117)' \
    -H 'Content-Type: application/octet-stream' --data-binary 'encrypted report' \
    "http://$SRV4/prov/000e08aa0117/rep.xml.enc" || die "vendor_claims: curl POST failed"
cap_stop; srv_stop
fi
# ---------------------------------------------------------------------------
# 14. resumed_rsa: ATAs that resync by resuming their TLS session, RSA key
#     exchange (decryptable with pki/server.key): an SPA-2102 over TLS 1.0
#     (AES128-SHA) by session ID and an SPA112 over TLS 1.2 (AES256-GCM-SHA384)
#     by session ticket, each after its full handshake with its certificate;
#     and an SPA-3102 whose full handshake ran before the capture started, so
#     that only its resumption is on the wire. Each resync fetches its own
#     URL (/resync-...). On 10.231.0.0/24, port 18443.
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = resumed_rsa ]; then
[ -z "$ONLY" ] && resumed_device_certs
ip -n "$SRV" addr replace 10.231.0.2/24 dev eth0
TLS_HOST=10.231.0.2; TLS_PORT=18443
RES_SUITES='AES128-SHA:AES256-GCM-SHA384:@SECLEVEL=0'
s_server_req -cipher "$RES_SUITES"
tls_get reslate /spa000e08231003.cfg 'Linksys/SPA-3102-5.1.10(GW) (88012BA23103)' \
    -tls1_2 -cipher AES128-SHA -no_ticket -sess_out "$WORK/reslate.sess"       # before the capture
cap_start resumed_rsa
tls_get ressid /spa000e08231001.cfg 'Linksys/SPA-2102-5.2.10 (88012BA23101)' \
    -tls1 -cipher 'AES128-SHA:@SECLEVEL=0' -no_ticket -sess_out "$WORK/ressid.sess"
tls_get restkt /spa000e08231002.cfg 'Cisco/SPA112-1.4.1(SR5) (CCQ1623T0AB)' \
    -tls1_2 -cipher AES256-GCM-SHA384 -sess_out "$WORK/restkt.sess"
tls_get reslate /resync-spa000e08231003.cfg 'Linksys/SPA-3102-5.1.10(GW) (88012BA23103)' \
    -tls1_2 -cipher AES128-SHA -no_ticket -sess_in "$WORK/reslate.sess"
grep -q '^Reused' "$WORK/client-reslate.log" || die "resumed_rsa: reslate not resumed"
tls_get ressid /resync-spa000e08231001.cfg 'Linksys/SPA-2102-5.2.10 (88012BA23101)' \
    -tls1 -cipher 'AES128-SHA:@SECLEVEL=0' -no_ticket -sess_in "$WORK/ressid.sess"
grep -q '^Reused' "$WORK/client-ressid.log" || die "resumed_rsa: ressid not resumed"
tls_get restkt /resync-spa000e08231002.cfg 'Cisco/SPA112-1.4.1(SR5) (CCQ1623T0AB)' \
    -tls1_2 -cipher AES256-GCM-SHA384 -sess_in "$WORK/restkt.sess"
grep -q '^Reused' "$WORK/client-restkt.log" || die "resumed_rsa: restkt not resumed"
cap_stop; srv_stop
TLS_HOST=$SRV4; TLS_PORT=443
fi
# ---------------------------------------------------------------------------
# 15. ccm: suites whose names printed in hex and that were not decrypted.
#     TLS 1.3 TLS_AES_128_CCM_SHA256 and TLS_AES_128_CCM_8_SHA256 (key log);
#     TLS 1.2 AES128-CCM and AES256-CCM8 with RSA key exchange
#     (pki/server.key); ECDHE-ECDSA-AES128-CCM8 (key log; the server's ECDSA
#     certificate, for -dcert, is made here and thrown away); Camellia CBC with
#     RSA key exchange over TLS 1.2 (CAMELLIA256-SHA256) and TLS 1.0
#     (CAMELLIA128-SHA). No client certificates. On 10.231.0.0/24, port 18443.
# ---------------------------------------------------------------------------
if [ -z "$ONLY" ] || [ "$ONLY" = ccm ]; then
ip -n "$SRV" addr replace 10.231.0.2/24 dev eth0
TLS_HOST=10.231.0.2; TLS_PORT=18443
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/srv-ec.key" \
    -subj "/O=Example Telco Test/CN=$SNI" -days 7300 -config "$CNF" -out "$WORK/srv-ec.pem" 2>/dev/null
: > "$WORK/ccm.keylog"
srv_start 18443 openssl s_server -accept 18443 -cert "$WORK/server.pem" -key "$WORK/server.key" \
    -cert_chain "$WORK/srvca.pem" -dcert "$WORK/srv-ec.pem" -dkey "$WORK/srv-ec.key" -WWW \
    -cipher 'AES128-CCM:AES256-CCM8:ECDHE-ECDSA-AES128-CCM8:CAMELLIA256-SHA256:CAMELLIA128-SHA:@SECLEVEL=0' \
    -ciphersuites 'TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256'
cap_start ccm
tls_get ccm13 /CP-8851-3PCC.xml 'Cisco-CP-8851-3PCC/12.0.1 (00562b231004)' \
    -tls1_3 -ciphersuites TLS_AES_128_CCM_SHA256 -keylogfile "$WORK/ccm.keylog"
tls_get ccm13e /CP-8845-3PCC.xml 'Cisco-CP-8845-3PCC/12.0.1 (00562b231005)' \
    -tls1_3 -ciphersuites TLS_AES_128_CCM_8_SHA256 -keylogfile "$WORK/ccm.keylog"
tls_get ccm12 /spa8843e1231006.cfg 'Cisco/SPA504G-7.6.2c (8843E1231006)(CCQ1623C006)' -tls1_2 -cipher AES128-CCM
tls_get ccm12e /spa8843e1231007.cfg 'Cisco/SPA525G-7.6.2c (8843E1231007)(CBT1623C007)' -tls1_2 -cipher AES256-CCM8
tls_get ccmec /spa8843e1231008.cfg 'Cisco/SPA514G-7.6.2c (8843E1231008)(CBT1623C008)' \
    -tls1_2 -cipher ECDHE-ECDSA-AES128-CCM8 -keylogfile "$WORK/ccm.keylog"
tls_get cam12 /spa000e08231009.cfg 'Linksys/SPA-2102-5.2.10 (88012BA23109)' -tls1_2 -cipher CAMELLIA256-SHA256
tls_get cam10 /spa000e0823100a.cfg 'Linksys/SPA-3102-5.1.10(GW) (88012BA2310A)' \
    -tls1 -cipher 'CAMELLIA128-SHA:@SECLEVEL=0'
cap_stop; srv_stop
for want in ccm13:TLS_AES_128_CCM_SHA256 ccm13e:TLS_AES_128_CCM_8_SHA256 ccm12:AES128-CCM ccm12e:AES256-CCM8 \
            ccmec:ECDHE-ECDSA-AES128-CCM8 cam12:CAMELLIA256-SHA256 cam10:CAMELLIA128-SHA; do
    grep -q "Cipher is ${want#*:}\$" "$WORK/client-${want%%:*}.log" || die "ccm: ${want%%:*} did not negotiate ${want#*:}"
done
cp "$WORK/ccm.keylog" "$OUT/ccm.keylog"
TLS_HOST=$SRV4; TLS_PORT=443
fi
if [ -n "$ONLY" ]; then
    log "done: $OUT/$ONLY.pcap"
    exit 0
fi

# ---------------------------------------------------------------------------
# 1. spa_mixed_tls12: individualized, generic x2, none, MPP; TLS 1.2, MTU 576
# ---------------------------------------------------------------------------
mtu 576 srv spa962 gen1 gen2 nocert mpp8841
s_server_req -tls1_2
cap_start spa_mixed_tls12
tls_get spa962  /spa000e08abcdef.cfg 'Linksys/SPA-962-5.1.5 (88012BA01234)'
tls_get gen1    /spa000e08123456.cfg 'Linksys/SPA-2102-2.0.5 (88012BA02102)'
tls_get gen2    /spa000e08654321.cfg 'Linksys/SPA-2102-2.0.5 (88012BA02103)'
tls_get nocert  /spa8843e1000001.cfg 'Cisco/SPA112-1.4.1(SR5) (CCQ00000001)'
tls_get mpp8841 /CP-8841-3PCC.xml    'Cisco-CP-8841-3PCC/11.0 (00562b043615)'
cap_stop; srv_stop
mtu 1500 srv spa962 gen1 gen2 nocert mpp8841

# ---------------------------------------------------------------------------
# 2. tls13: client certificate over TLS 1.3 (+ keylog)
# ---------------------------------------------------------------------------
s_server_req
cap_start tls13
tls_get mpp8851 /CP-8851-3PCC.xml 'Cisco-CP-8851-3PCC/12.0.1 (00562b088501)' \
    -tls1_3 -keylogfile "$WORK/tls13.keylog"
cap_stop; srv_stop
cp "$WORK/tls13.keylog" "$OUT/tls13.keylog"

# ---------------------------------------------------------------------------
# 3. resumption: session-ID and ticket resumption after full handshakes; one
#    device whose full handshake happened before the capture started.
# ---------------------------------------------------------------------------
s_server_req -tls1_2
tls_get spa3102 /spa000e08310201.cfg 'Linksys/SPA-3102-5.1.10(GW) (88012BA03102)' \
    -no_ticket -sess_out "$WORK/spa3102.sess"          # before the capture
cap_start resumption
tls_get spa962  /spa000e08abcdef.cfg 'Linksys/SPA-962-5.1.5 (88012BA01234)' \
    -no_ticket -sess_out "$WORK/spa962.sess"
tls_get mpp8841 /CP-8841-3PCC.xml 'Cisco-CP-8841-3PCC/11.0 (00562b043615)' \
    -sess_out "$WORK/mpp8841.sess"
tls_get spa3102 /spa000e08310201.cfg 'Linksys/SPA-3102-5.1.10(GW) (88012BA03102)' \
    -no_ticket -sess_in "$WORK/spa3102.sess"
grep -q '^Reused' "$WORK/client-spa3102.log" || die "spa3102 not resumed"
tls_get spa962  /spa000e08abcdef.cfg 'Linksys/SPA-962-5.1.5 (88012BA01234)' \
    -no_ticket -sess_in "$WORK/spa962.sess"
grep -q '^Reused' "$WORK/client-spa962.log" || die "spa962 not resumed"
tls_get mpp8841 /CP-8841-3PCC.xml 'Cisco-CP-8841-3PCC/11.0 (00562b043615)' \
    -sess_in "$WORK/mpp8841.sess"
grep -q '^Reused' "$WORK/client-mpp8841.log" || die "mpp8841 not resumed"
cap_stop; srv_stop

# ---------------------------------------------------------------------------
# 4. no_cert_request: server never sends CertificateRequest
# ---------------------------------------------------------------------------
srv_start 443 openssl s_server -accept 443 -cert "$WORK/server.pem" -key "$WORK/server.key" \
    -cert_chain "$WORK/srvca.pem" -WWW -tls1_2
cap_start no_cert_request
tls_get spa962 /spa000e08abcdef.cfg 'Linksys/SPA-962-5.1.5 (88012BA01234)'
tls_get nocert /spa8843e1000001.cfg 'Cisco/SPA112-1.4.1(SR5) (CCQ00000001)'
cap_stop; srv_stop

# ---------------------------------------------------------------------------
# 5. plain_http: python3 http.server, curl with vendor User-Agents
# ---------------------------------------------------------------------------
cat > "$WORK/httpd.py" <<'EOF'
import http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"          # keep-alive
    server_version = "prov-httpd/1.0"
    sys_version = ""
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        body = b"<flat-profile><!-- POST profile --></flat-profile>\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
EOF
profile /spa000e08aabbcc.cfg /spa2102.cfg /spa8843e157ddcc.cfg /y000000000028.cfg /0015654aa937.cfg \
        /y000000000025.cfg /001565112233.cfg /cfgc074ad2bd859.xml /snomD785-000413922D24.htm \
        /000000000000.cfg /0004f2a1b2c3.cfg /spa000e08555555.cfg
srv_start 80 python3 "$WORK/httpd.py" 80
cap_start plain_http
http_get h2102 'Linksys/SPA-2102-2.0.5 (88012BA01234)' /spa000e08aabbcc.cfg /spa2102.cfg
ip netns exec "${PFX}h2102" timeout 20 curl -sS --fail -o /dev/null -A 'Linksys/SPA-2102-2.0.5 (88012BA01234)' \
    -H 'Content-Type: text/plain' \
    --data-binary 'Product = "SPA-2102"; MAC_Addr = "000e08aabbcc"; Ser_Num = "88012BA01234"; SW_Ver = "2.0.5";' \
    "http://$SRV4/profile?mac=000e08aabbcc" || die "curl POST failed"
http_get h501g 'Cisco/SPA501G-7.4.4 (8843E157DDCC)(CBT141100HR)' '/spa8843e157ddcc.cfg?ccert=Not%20Installed'
http_get ht46g 'Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37' /y000000000028.cfg /0015654aa937.cfg
http_get hw52p 'W52P 25.30.0.2 00:15:65:11:22:33' /y000000000025.cfg /001565112233.cfg
http_get hgxp  'Grandstream Model HW GXP1628 SW 1.0.4.138 DevId c074ad2bd859' /cfgc074ad2bd859.xml
http_get hsnom 'Mozilla/4.0 (compatible; snomD785-SIP 10.1.33.33 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)' \
    /snomD785-000413922D24.htm
http_get hpoly 'FileTransport PolycomVVX-VVX_400-UA/4.1.4.7430 Type/Application' /000000000000.cfg /0004f2a1b2c3.cfg
cap_stop; srv_stop

# ---------------------------------------------------------------------------
# 6. ipv6: individualized device over IPv6 only, MTU 1280
# ---------------------------------------------------------------------------
mtu 1280 srv spa112v6
# an MTU below 1280 (earlier captures) removed the server's IPv6 addresses: restore
ip -n "$SRV" addr replace "$SRV6/64" dev eth0 nodad
s_server_req -tls1_2 -6
cap_start ipv6 'tcp or (icmp6 and (ip6[40] == 135 or ip6[40] == 136))'
tls_get spa112v6 /spa000e08660006.cfg 'Cisco/SPA112-1.4.1(SR5) (CCQ16230V6A)'
cap_stop; srv_stop
mtu 1500 srv spa112v6

# ---------------------------------------------------------------------------
# 7. audit_cases: clone, chain, forged, expired, not-yet-valid, weak, hostile,
#    serial mismatch (cert vs plain-HTTP User-Agent).  SECLEVEL=0 for RSA-1024.
# ---------------------------------------------------------------------------
AUD=(spa962 clone chain forged expired future weak hostile sermm)
mtu 576 srv "${AUD[@]}"
s_server_req -tls1_2 -cipher 'DEFAULT:@SECLEVEL=0'
SRV_TLS_PID=$SRV_PID; SRV_PID=""
srv_start 80 python3 "$WORK/httpd.py" 80
SRV_HTTP_PID=$SRV_PID; SRV_PID=""
cap_start audit_cases
tls_get spa962  /spa000e08abcdef.cfg 'Linksys/SPA-962-5.1.5 (88012BA01234)'
tls_get clone   /spa000e08abcdef.cfg 'Linksys/SPA-962-5.1.5 (88012BA01234)'
tls_get chain   /spa887556000122.cfg 'Cisco/SPA122-1.4.1(SR5) (CCQ162300AB)'
tls_get forged  /spa000e08f00d01.cfg 'Linksys/SPA-2102-5.2.10 (88012BF00D01)'
tls_get expired /spa000e08e00001.cfg 'Linksys/SPA-2102-5.2.10 (88012BE00001)'
tls_get future  /spa000e08fe0001.cfg 'Linksys/SPA-2102-5.2.10 (88012BFE0001)'
tls_get weak    /spa000e08a42805.cfg 'Linksys/SPA-942-6.1.5(a) (88019FA42805)' -cipher 'DEFAULT:@SECLEVEL=0'
tls_get hostile /spa000e08666066.cfg '<script>alert(2)</script>'
tls_get sermm   /spa000e08555555.cfg 'Linksys/SPA-2102-5.2.10 (88012BA05556)'
http_get sermm 'Linksys/SPA-2102-5.2.10 (88012BA05556)' /spa000e08555555.cfg
cap_stop
SRV_PID=$SRV_TLS_PID; srv_stop; SRV_PID=$SRV_HTTP_PID; srv_stop
mtu 1500 srv "${AUD[@]}"

# ---------------------------------------------------------------------------
# 8. decryption fixtures: TLS 1.0 RSA-kx, TLS 1.2 RSA-kx (server key in pki/),
#    TLS 1.2 ECDHE + keylog.  User-Agent only inside TLS.
# ---------------------------------------------------------------------------
s_server_req -tls1 -cipher 'AES128-SHA:@SECLEVEL=0'
cap_start tls10_rsa
tls_get spa2102l /spa000e08101010.cfg 'Linksys/SPA-2102-5.2.10 (88012BA01010)' \
    -tls1 -cipher 'AES128-SHA:@SECLEVEL=0' -keylogfile "$WORK/tls10_rsa.keylog"
cap_stop; srv_stop
s_server_req -tls1_2 -cipher 'AES256-SHA256'
cap_start tls12_rsa
tls_get spa504g /spa8843e1050405.cfg 'Cisco/SPA504G-7.6.2c (8843E1050405)(CCQ162306EA)' \
    -tls1_2 -cipher 'AES256-SHA256' -keylogfile "$WORK/tls12_rsa.keylog"
cap_stop; srv_stop
s_server_req -tls1_2 -cipher 'ECDHE-RSA-AES128-GCM-SHA256'
cap_start tls12_keylog
tls_get mpp8841 /CP-8841-3PCC.xml 'Cisco-CP-8841-3PCC/11.0 (00562b043615)' \
    -tls1_2 -keylogfile "$WORK/tls12_keylog.keylog"
cap_stop; srv_stop
cp "$WORK/tls12_keylog.keylog" "$OUT/tls12_keylog.keylog"

# ---------------------------------------------------------------------------
# 9. renegotiation: server does not ask in the initial handshake; after the
#    request it renegotiates (s_server interactive 'R' = request cert + reneg).
# ---------------------------------------------------------------------------
mkfifo "$WORK/srv.in"
(cd "$DOC" && exec ip netns exec "$SRV" openssl s_server -accept 443 -cert "$WORK/server.pem" \
    -key "$WORK/server.key" -cert_chain "$WORK/srvca.pem" -CAfile "$WORK/devroot.pem" \
    -tls1_2 -naccept 1 -crlf -no_resumption_on_reneg) < "$WORK/srv.in" > "$WORK/server.log" 2>&1 &
SRV_PID=$!; BGPIDS+=("$SRV_PID")
exec 7>"$WORK/srv.in"
for _ in $(seq 100); do ip netns exec "$SRV" ss -Hltn 'sport = :443' | grep -q . && break; sleep 0.05; done
cap_start renegotiation
printf 'GET /spa8843e1525001.cfg HTTP/1.1\r\nHost: %s\r\nUser-Agent: Cisco/SPA525G-7.4.7 (CBT141900G7)\r\n\r\n' "$SNI" > "$WORK/req.txt"
{ cat "$WORK/req.txt"; sleep 6; } | ip netns exec "${PFX}spa525g" timeout 20 openssl s_client \
    -connect "$SRV4:443" -servername "$SNI" -CAfile "$WORK/srvca.pem" \
    -cert "$WORK/spa525g.pem" -key "$WORK/spa525g.key" -tls1_2 -ign_eof \
    -keylogfile "$WORK/renegotiation.keylog" > "$WORK/client-reneg.log" 2>&1 &
CLI_PID=$!; BGPIDS+=("$CLI_PID")
sleep 1.5
echo R >&7                                   # request client cert + renegotiate
sleep 1.5
printf 'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 44\nConnection: close\n\n<flat-profile><!-- reneg --></flat-profile>\n' >&7
sleep 0.5
echo q >&7                                   # close this connection
exec 7>&-
wait "$CLI_PID" || true
wait "$SRV_PID" || true; SRV_PID=""
cap_stop
grep -q 'SPA525G' "$WORK/server.log" || { cat "$WORK/server.log" >&2; die "renegotiation: request not seen"; }
grep -q 'depth=0 OU = SPA525G' "$WORK/server.log" || die "renegotiation: no client certificate in the renegotiated handshake"
cp "$WORK/renegotiation.keylog" "$OUT/renegotiation.keylog"

log "done:"
ls -l "$OUT"/*.pcap >&2
log "now cross-check the expected files with tshark: samples/check_samples.py"
