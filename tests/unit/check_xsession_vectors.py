#!/usr/bin/env python3
"""An independent rendition of the extended session's handshake and packet
(docs/TRANSPORT.md 4-5) with python-cryptography, checked against the vectors pinned in
test_handshake.c and test_xpacket.c. Exit 77 (skip) without python-cryptography."""
import hashlib
import hmac
import sys

try:
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305, AESGCM
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives import serialization as ser
except ImportError:
    print("SKIP: python3-cryptography is not installed")
    sys.exit(77)
OUT = {}
H=lambda k,d: hmac.new(k,d,hashlib.sha256).digest()
s=bytes(range(32))
key=H(s,b"setowire xkey\x01"); iv=H(s,b"setowire xiv\x01")[:12]; nxt=H(s,b"setowire xku\x01")
OUT["key"] = key.hex(); OUT["iv"] = iv.hex(); OUT["next"] = nxt.hex()
pn=0x0102030405
hdr=bytes([0x41,0])+(0x01020304).to_bytes(4,'big')+pn.to_bytes(8,'big')
nonce=bytes(a^b for a,b in zip(iv,bytes(4)+pn.to_bytes(8,'big')))
OUT["pkt1"] = (hdr+ChaCha20Poly1305(key).encrypt(nonce,b"setowire",hdr)).hex()
OUT["pkt2"] = (hdr+AESGCM(key).encrypt(nonce,b"setowire",hdr)).hex()
# Noise IK INIT and RESP of test_handshake.c test_vectors
def ident(tag):
    priv=hashlib.sha256(b"swx"+bytes([tag])).digest()
    k=X25519PrivateKey.from_private_bytes(priv)
    return priv,k.public_key().public_bytes(ser.Encoding.Raw,ser.PublicFormat.Raw)
def pub(priv): return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(ser.Encoding.Raw,ser.PublicFormat.Raw)
def dh(priv,p):
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
    return X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(p))
def rnd(tag): return bytes(((tag*31+i*7+1)&255) for i in range(32))
def hkdf2(ck,ikm):
    t=H(ck,ikm); o1=H(t,b"\x01"); o2=H(t,o1+b"\x02"); return o1,o2
class S:
    def __init__(s,rs):
        s.h=b"Noise_IK_25519_ChaChaPoly_SHA256"; s.ck=s.h; s.k=None; s.n=0
        s.mh(b"setowire xsession 1"); s.mh(rs)
    def mh(s,d): s.h=hashlib.sha256(s.h+d).digest()
    def mk(s,d): s.ck,s.k=hkdf2(s.ck,d); s.n=0
    def enc(s,pt):
        c=ChaCha20Poly1305(s.k).encrypt(bytes(4)+s.n.to_bytes(8,'little'),pt,s.h); s.n+=1; s.mh(c); return c
def mac1(rpub,m):
    return H(hashlib.sha256(b"setowire xsession mac1"+rpub).digest(),m)[:16]
a,ap=ident(1); b,bp=ident(2)
e=rnd(10); ep=pub(e)
st=S(bp); m=bytes([0x42])+(0x11111111).to_bytes(4,'big'); st.mh(m)
st.mh(ep); m+=ep; st.mk(dh(e,bp)); m+=st.enc(ap); st.mk(dh(a,bp))
m+=st.enc((1000).to_bytes(8,'big')+bytes([3,0,0,0])); m+=mac1(bp,m)+bytes(16)
OUT["init"] = hashlib.sha256(m).hexdigest()
er=rnd(20); erp=pub(er)
r=bytes([0x43])+(0x22222222).to_bytes(4,'big')+(0x11111111).to_bytes(4,'big'); st.mh(r)
st.mh(erp); r+=erp; st.mk(dh(e,erp)); st.mk(dh(a,erp)); r+=st.enc(bytes([2,0,0,0])); r+=mac1(ap,r)
OUT["resp"] = hashlib.sha256(r).hexdigest()
t1,t2=hkdf2(st.ck,b"")
OUT["i2r"] = t1.hex(); OUT["r2i"] = t2.hex(); OUT["h"] = st.h.hex()

assert len(m) == 145 and len(r) == 77
WANT = {
    "key": "938422826ea4a1f73a5d5f1062036d0209eab8f236887d215f57058129f3cd18",
    "iv": "88e5d7cf56aac132872e7572",
    "next": "9d2427f70da5db237a3b229c3999b3fa6fbc15f81565cb9c9fb41cab3ce89e2f",
    "pkt1": "410001020304000000010203040595c73aba07fcf714f24de8245a20ae7eade7a10025e1d35e",
    "pkt2": "4100010203040000000102030405045672ba9c27ec4b3e2dabbde7fc3f4f1d553f63fc08299b",
    "init": "486a9667de4203d8bf401e2a446898dab28ffc0070e0939f8a2d77dc68d7f0b9",
    "resp": "87b6954481d448707ce77438e9257c17b6cf28ca15aecda988af94b01f28274e",
    "i2r": "6315d3ab4324ceaee2284b4c518eb918abe989bb8f2aa8d4b6ac7c6f34444f27",
    "r2i": "2f90590475516af1820474b23b413b3fad315325cd5370f0d70dd323c4705190",
    "h": "af1be5754f25ad8f7e75d358f6842ee755d0602571aba5f22552d9b4262dcafb",
}
bad = [k for k in WANT if OUT[k] != WANT[k]]
for k in bad:
    print("MISMATCH %s: got %s want %s" % (k, OUT[k], WANT[k]))
print("ok" if not bad else "FAILED")
sys.exit(1 if bad else 0)
