"""``bidtool``: the bidder's command line (and the key holders': opening officers, supervisors). Run
``bidtool --help``; every command says what went wrong."""
from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import sys
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from tqdm import tqdm

from bidtool.client import Home, Platform, PlatformError
from bidtool.package import MODULES, PackageError, build_package
from core.errors import DomainError
from crypto import certificates as x509ca
from crypto import envelope
from crypto.keystore import load_private_key_file, save_private_key_file
from crypto.signing import sign_bytes, verify_document
from trading.price_form import PriceFormInvalid, validate_price_form

DEFAULT_HOME = Path(os.environ.get("BIDTOOL_HOME", Path.home() / ".bidhall"))


def _password(args, prompt: str = "私钥口令 (key password): ") -> str:
    if getattr(args, "password_file", None):
        return Path(args.password_file).read_text().strip()
    if os.environ.get("BIDTOOL_KEY_PASSWORD"):
        return os.environ["BIDTOOL_KEY_PASSWORD"]
    return getpass.getpass(prompt)


def cmd_login(args, home: Home) -> None:
    platform = Platform(args.server)
    if args.certificate:
        key = load_private_key_file(home.file("signing-key.pem"), _password(args))
        challenge = platform.call("POST", "/auth/challenge")["challenge"]
        import base64

        signature = sign_bytes(key, base64.b64decode(challenge))
        body = {"username": args.username, "challenge": challenge, "signature": base64.b64encode(signature).decode(),
                "certificate": home.file("signing-cert.pem").read_text()}
        token = platform.call("POST", "/auth/certificate", json=body)["token"]
    else:
        password = args.login_password or getpass.getpass("登录密码 (password): ")
        body = {"username": args.username, "password": password, "label": "bidtool"}
        if args.totp:
            body["totp"] = args.totp
        token = platform.call("POST", "/tokens", json=body)["token"]
    home.save_config(server=args.server, token=token, username=args.username)
    me = Platform(args.server, token).call("GET", "/me")
    print(f"已登录 {me['display_name']}（{(me.get('organisation') or {}).get('name', '')}） (signed in)")


def cmd_enrol(args, home: Home) -> None:
    """Generate the key pairs here, send only requests, keep the keys as password-protected PKCS#8 files."""
    platform = home.platform()
    password = _password(args, "为新私钥设置口令 (new key password): ")
    if len(password) < 8:
        raise SystemExit("私钥口令至少8位 (key password: at least 8 characters)")
    for_org = not args.for_user
    signing_key = x509ca.generate_signing_key()
    csr = x509ca.create_signing_request(signing_key, "bidtool").public_bytes(serialization.Encoding.PEM).decode()
    signing = platform.call("POST", "/certificates/signing", json={"csr": csr, "for_organisation": for_org})
    signing_cert = x509ca.load_certificate(signing["pem"].encode())
    encryption_key = x509ca.generate_encryption_key(args.algorithm)
    request = x509ca.create_encryption_request(encryption_key.public_key(), signing_key, signing_cert)
    encryption = platform.call("POST", "/certificates/encryption", json={"request": request, "for_organisation": for_org})
    save_private_key_file(signing_key, home.file("signing-key.pem"), password)
    save_private_key_file(encryption_key, home.file("encryption-key.pem"), password)
    home.file("signing-cert.pem").write_text(signing["pem"])
    home.file("encryption-cert.pem").write_text(encryption["pem"])
    print(f"证书已签发 (certificates issued): 签名 {signing['serial']}，加密 {encryption['serial']}；私钥保存在 {home.path}")


def cmd_form(args, home: Home) -> None:
    info = home.platform().call("GET", f"/sections/{args.section}/sealing")
    fields = info["price_form"]
    if not args.values:
        for field in fields:
            options = f"  [{' / '.join(field['options'])}]" if field.get("options") else ""
            print(f"{field['key']:<20} {field['label']} ({field['type']}{', 必填' if field['required'] else ''}){options}")
        return
    values = json.loads(Path(args.values).read_text(encoding="utf-8"))
    try:
        clean = validate_price_form(fields, values)
    except PriceFormInvalid as exc:
        for key, message in exc.problems:
            print(f"✗ {key}: {message}", file=sys.stderr)
        raise SystemExit(2) from None
    out = Path(args.out or args.values)
    out.write_text(json.dumps(clean, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"开标一览表校验通过，已写入 {out} (price form valid)")


def _modules(pairs: list[str]) -> dict[str, list[Path]]:
    modules: dict[str, list[Path]] = {}
    for pair in pairs:
        name, _, path = pair.partition("=")
        if name not in MODULES or not path:
            raise SystemExit(f"--module 应为 模块=路径，模块为 {', '.join(MODULES)} (got {pair!r})")
        modules.setdefault(name, []).append(Path(path))
    return modules


def cmd_seal(args, home: Home) -> None:
    platform = home.platform()
    info = platform.call("GET", f"/sections/{args.section}/sealing")
    try:
        form = validate_price_form(info["price_form"], json.loads(Path(args.form).read_text(encoding="utf-8")))
    except PriceFormInvalid as exc:
        raise SystemExit("开标一览表未通过校验 (price form invalid): " + str(exc)) from None
    password = _password(args)
    signing_key = load_private_key_file(home.file("signing-key.pem"), password)
    signing_cert = x509ca.load_certificate(home.file("signing-cert.pem").read_bytes())
    encryption_cert = x509ca.load_certificate(home.file("encryption-cert.pem").read_bytes())
    officers = [(o["officer"], x509ca.load_certificate(o["certificate"].encode())) for o in info["officers"]]
    modules = _modules(args.module)
    total = sum(p.stat().st_size if p.is_file() else sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
                for paths in modules.values() for p in paths)
    with tempfile.TemporaryDirectory(prefix="bidtool-") as scratch:
        package = Path(scratch) / "bid.zip"
        with tqdm(total=total, unit="B", unit_scale=True, desc="打包 (packing)") as bar:
            try:
                build_package(package, ids=info["ids"], price_form=form, modules=modules, progress=bar.update)
            except PackageError as exc:
                raise SystemExit(str(exc)) from None
        size = package.stat().st_size
        with open(package, "rb") as plain, open(args.out, "wb") as out, \
                tqdm(total=size, unit="B", unit_scale=True, desc="加密签名 (sealing)") as bar:
            summary = envelope.seal(_Progress(plain, bar.update), out, ids=envelope.BidIds(**info["ids"]),
                                    bidder_signing_key=signing_key, bidder_signing_cert=signing_cert,
                                    bidder_encryption_cert=encryption_cert, officers=officers,
                                    threshold=info["threshold"])
    print(f"已加密：{args.out}，{summary.envelope_size if hasattr(summary, 'envelope_size') else Path(args.out).stat().st_size} 字节，"
          f"密文摘要 {summary.ciphertext_digest.hex()} (sealed)")


class _Progress(io.RawIOBase):
    def __init__(self, stream, update):
        self.stream, self.update = stream, update

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.stream.readinto(buffer)
        self.update(count or 0)
        return count

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.update(len(data))
        return data


def cmd_upload(args, home: Home) -> None:
    """Upload with resume: the upload id is kept beside the file, and a rerun carries on from the server's offset."""
    platform = home.platform()
    path = Path(args.file)
    state_file = path.with_name(path.name + ".upload.json")
    size = path.stat().st_size
    upload_id = None
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if state.get("size") == size and state.get("section") == args.section:
            status = platform.call("GET", f"/uploads/{state['upload']}")
            if status["state"] == "open":
                upload_id, offset = state["upload"], status["offset"]
                print(f"继续上传：从 {offset} 字节处接着传 (resuming at byte {offset})")
    if upload_id is None:
        started = platform.call("POST", f"/sections/{args.section}/uploads", json={"size": size})
        upload_id, offset = started["upload"], 0
        state_file.write_text(json.dumps({"upload": upload_id, "size": size, "section": args.section}))
    chunk = min(args.chunk, 8 * 1024 * 1024)
    with open(path, "rb") as stream, tqdm(total=size, initial=offset, unit="B", unit_scale=True,
                                          desc="上传 (uploading)") as bar:
        stream.seek(offset)
        while offset < size:
            data = stream.read(chunk)
            try:
                offset = platform.call("PUT", f"/uploads/{upload_id}/chunks", params={"offset": offset}, data=data,
                                       headers={"Content-Type": "application/octet-stream"})["offset"]
            except PlatformError as exc:
                if exc.code != "wrong_offset":
                    raise
                offset = platform.call("GET", f"/uploads/{upload_id}")["offset"]  # resync, then go on
                stream.seek(offset)
                bar.n = offset
                continue
            bar.update(len(data))
    bid = platform.call("POST", f"/uploads/{upload_id}/finalise")
    receipt = bid["receipts"][-1]["document"]
    receipt_file = path.with_name(path.name + ".receipt.json")
    receipt_file.write_text(json.dumps(receipt, ensure_ascii=False, indent=2), encoding="utf-8")
    state_file.unlink(missing_ok=True)
    certs = platform.call("GET", "/platform/certificates")
    home.file("platform-signing.pem").write_text(certs["signing"])
    home.file("platform-ca.pem").write_text(certs["ca"])
    print(f"已递交：回执第 {bid['receipts'][-1]['sequence']} 号，已保存到 {receipt_file} (submitted; receipt saved)")


def cmd_verify_receipt(args, home: Home) -> None:
    """Offline: the receipt's signature, the platform certificate's chain, and optionally the bid file itself."""
    receipt = json.loads(Path(args.receipt).read_text(encoding="utf-8"))
    signing = x509ca.load_certificate(Path(args.platform_cert or home.file("platform-signing.pem")).read_bytes())
    ca = x509ca.load_certificate(Path(args.ca or home.file("platform-ca.pem")).read_bytes())
    try:
        from datetime import datetime, timezone

        x509ca.verify_certificate(signing, ca, revoked_serials=set(), at=datetime.now(timezone.utc),
                                  purpose=x509ca.Purpose.SIGNING)
        payload = verify_document(receipt, signing)
    except Exception as exc:  # noqa: BLE001 - every failure is reported to the bidder as it is
        raise SystemExit(f"✗ 回执无效 (receipt invalid): {exc}") from None
    if args.bid:
        with open(args.bid, "rb") as stream:
            header = envelope.read_header(stream)
            stream.seek(0)
            summary = envelope.verify_envelope(stream, expected_ids=header.ids, bidder_signing_cert=header.signer_certificate)
        if summary.ciphertext_digest.hex() != payload["ciphertext_digest"] or Path(args.bid).stat().st_size != payload["size"]:
            raise SystemExit("✗ 投标文件与回执不符 (the bid file does not match the receipt)")
    print(f"✓ 回执有效：第 {payload['sequence']} 号，{payload['kind']}，{payload['section']}，{payload['server_time']} "
          f"(receipt valid)")


def _my_bid(platform: Platform, section: int) -> int:
    bids = [b for b in platform.call("GET", f"/sections/{section}/my-bids")["bids"] if b["state"] == "submitted"]
    if not bids:
        raise SystemExit("本单位在该标段没有有效的投标文件 (no submitted bid in this section)")
    return bids[-1]["id"]


def cmd_decrypt(args, home: Home) -> None:
    """不见面开标: unwrap the content key here with the encryption key; only that key goes to the platform."""
    import base64

    platform = home.platform()
    bid = args.bid or _my_bid(platform, args.section)
    data = platform.call("GET", f"/bids/{bid}/envelope-header")
    header = envelope.read_header(io.BytesIO(base64.b64decode(data["header"])))
    key = load_private_key_file(home.file("encryption-key.pem"), _password(args))
    content_key = envelope.unwrap_content_key(header, key)
    result = platform.call("POST", f"/bids/{bid}/decrypt", json={"content_key": base64.b64encode(content_key).decode()})
    if result["state"] != "decrypted":
        raise SystemExit(f"✗ 解密失败 (decryption failed): {result.get('error')}")
    print(f"✓ 投标文件 {bid} 已解密 (decrypted)")


def cmd_release_share(args, home: Home) -> None:
    """For opening officers: unwrap this officer's escrow share of a bid ruled a PLATFORM fault, and release it."""
    import base64

    platform = home.platform()
    data = platform.call("GET", f"/bids/{args.bid}/envelope-header")
    if not data.get("officer"):
        raise SystemExit("您不是该标段的开标密钥保管人 (you hold no share of this bid)")
    header = envelope.read_header(io.BytesIO(base64.b64decode(data["header"])))
    share = envelope.unwrap_share(header, data["officer"], load_private_key_file(home.file("encryption-key.pem"),
                                                                                 _password(args)))
    result = platform.call("POST", f"/bids/{args.bid}/shares", json={"x": share.x, "y": share.y.hex()})
    print(f"✓ 份额已释放 (share released); 投标文件状态 {result['state']}")


SEAT_STATUS = {"notified": "待确认", "confirmed": "已确认参加", "declined": "已拒绝", "timed_out": "超时未确认",
               "recused": "回避"}


def cmd_draw_list(args, home: Home) -> None:
    """For supervisors, before the evaluation starts: open a draw's sealed expert list here with the encryption
    key (evaluation.draw_sealing.open_sealed_list, as the page does); the platform decrypts nothing."""
    from evaluation.draw_sealing import open_sealed_list

    platform = home.platform()
    package = platform.call("GET", f"/draws/{args.draw}/sealed-list")
    opened = open_sealed_list(package, load_private_key_file(home.file("encryption-key.pem"), _password(args)),
                              draw_id=args.draw)
    codes = sorted({seat.expert for seat in opened.seats})
    experts = {e["code"]: e for e in platform.call("POST", f"/draws/{args.draw}/sealed-list/experts",
                                                   json={"codes": codes})["experts"]}
    print(f"抽取 {args.draw} 的专家名单（已用本机私钥启封） (draw {args.draw}: opened with the key here)")
    for code, seat in opened.members().items():
        where = (seat.venue or "") + (f" 第{seat.seat}席" if seat.seat else "")
        print(f"  {seat.slot + 1:>2}  {experts.get(code, {}).get('name', '?')}  {code}  {seat.specialty}  {where}  "
              f"{SEAT_STATUS.get(seat.status, seat.status)}")
    if args.history:
        print("通知与补抽记录 (notices and replacements):")
        for seat in opened.seats:
            reason = f"：{seat.reason}" if seat.reason else ""
            print(f"  第{seat.round}轮 第{seat.slot + 1}席  {seat.expert}  {SEAT_STATUS.get(seat.status, seat.status)}{reason}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bidtool", description="bidhall 投标文件制作工具 (bid preparation tool)")
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="folder for keys and settings")
    parser.add_argument("--password-file", help="read the key password from this file")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("login", help="sign in and keep a token")
    p.add_argument("--server", required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--login-password")
    p.add_argument("--totp")
    p.add_argument("--certificate", action="store_true", help="sign in with the signing key (CA lock)")
    p = sub.add_parser("enrol", help="generate key pairs and obtain certificates")
    p.add_argument("--for-user", action="store_true", help="a personal certificate instead of the organisation's")
    p.add_argument("--algorithm", default="ECDH-P256", choices=["ECDH-P256", "RSA-OAEP-SHA256"])
    p = sub.add_parser("form", help="show the section's price form, or validate a filled one")
    p.add_argument("section", type=int)
    p.add_argument("--values")
    p.add_argument("--out")
    p = sub.add_parser("seal", help="package, encrypt and sign a bid")
    p.add_argument("section", type=int)
    p.add_argument("--form", required=True)
    p.add_argument("--module", action="append", default=[], help="MODULE=PATH, repeatable")
    p.add_argument("--out", required=True)
    p = sub.add_parser("upload", help="upload a sealed bid (resumes after an interruption)")
    p.add_argument("section", type=int)
    p.add_argument("file")
    p.add_argument("--chunk", type=int, default=4 * 1024 * 1024)
    p = sub.add_parser("verify-receipt", help="check a receipt offline")
    p.add_argument("receipt")
    p.add_argument("--platform-cert")
    p.add_argument("--ca")
    p.add_argument("--bid", help="also check that this sealed bid file is the one the receipt names")
    p = sub.add_parser("decrypt", help="decrypt my bid at the online opening")
    p.add_argument("section", type=int)
    p.add_argument("--bid", type=int)
    p = sub.add_parser("release-share", help="opening officers: release my escrow share of a bid")
    p.add_argument("bid", type=int)
    p = sub.add_parser("draw-list", help="supervisors: open a draw's sealed expert list with my encryption key")
    p.add_argument("draw", type=int)
    p.add_argument("--history", action="store_true", help="also list every notice and replacement")
    args = parser.parse_args(argv)
    home = Home(args.home)
    commands = {"login": cmd_login, "enrol": cmd_enrol, "form": cmd_form, "seal": cmd_seal, "upload": cmd_upload,
                "verify-receipt": cmd_verify_receipt, "decrypt": cmd_decrypt, "release-share": cmd_release_share,
                "draw-list": cmd_draw_list}
    try:
        commands[args.command](args, home)
    except PlatformError as exc:
        print(f"✗ 平台拒绝 (refused by the platform): {exc}", file=sys.stderr)
        return 1
    except (envelope.EnvelopeError, x509ca.CertificateError, OSError) as exc:
        print(f"✗ {exc}", file=sys.stderr)
        return 1
    except DomainError as exc:  # e.g. a sealed list that does not open with this key, saying why
        print(f"✗ {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
