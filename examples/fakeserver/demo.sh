#!/usr/bin/env bash
# demo.sh: the README.md walkthrough as a script. It drives a running
# fakeserver through a whole WeChat Pay API v2 refund using only curl,
# openssl and coreutils (md5sum, od, tr, sort, cut). python3 (standard library)
# serves only as the tiny HTTP listener that receives the refund notification.
#
#   go build -o /tmp/fakeserver ./examples/fakeserver
#   /tmp/fakeserver -addr 127.0.0.1:0 -dir /tmp/fc > /tmp/fake.json &
#   bash examples/fakeserver/demo.sh /tmp/fake.json
#   kill %1
#
# The argument is a file holding the JSON line fakeserver prints (the script
# waits up to 60s for it to appear). Without an argument the values come from
# the environment: FAKE_BASE_URL, FAKE_APPID, FAKE_MCH_ID, FAKE_API_KEY,
# FAKE_CA, FAKE_CERT and FAKE_KEY.
#
# Steps: add a paid order (admin API) -> apply for a refund over mutual TLS,
# signed here with MD5 -> verify the answer's sign -> query the refund ->
# complete it (admin API) -> receive the notification -> decrypt req_info with
# openssl -> check it -> find the acknowledged delivery in GET /fake/deliveries.
# Exits 0 and prints "demo.sh: OK" on success; on any failure it prints
# "demo.sh: FAIL: <reason>" to stderr and exits 1. Every wait is bounded.

set -euo pipefail

die() {
	printf 'demo.sh: FAIL: %s\n' "$*" >&2
	exit 1
}
step() { printf '\n== %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---- configuration ---------------------------------------------------------

if [ $# -gt 1 ] || [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
	echo "usage: demo.sh [file-with-fakeserver-json-line]   (or set FAKE_BASE_URL, FAKE_APPID, FAKE_MCH_ID, FAKE_API_KEY, FAKE_CA, FAKE_CERT, FAKE_KEY)" >&2
	exit 2
fi

for t in curl openssl python3 od tr sort cut; do
	have "$t" || die "$t is not installed"
done
if have md5sum; then
	md5hex() { md5sum | cut -c1-32; }
elif have md5; then # macOS without coreutils
	md5hex() { md5 -q; }
else
	die "md5sum is not installed"
fi

if [ $# -eq 1 ]; then
	file=$1
	line=
	for ((i = 0; i < 600; i++)); do # up to 60s: `go run` may still be compiling
		if [ -f "$file" ] && IFS= read -r line <"$file"; then
			break
		fi
		sleep 0.1
	done
	[ -n "$line" ] || die "no JSON line in $file after 60s (is fakeserver running with stdout redirected there?)"
	json_get() { # the string value of key $1 in the JSON line
		local re="\"$1\":\"([^\"\\\\]*)\""
		[[ $line =~ $re ]] || die "no plain string \"$1\" in $file (values with escapes: use the FAKE_* variables)"
		printf '%s' "${BASH_REMATCH[1]}"
	}
	FAKE_BASE_URL=$(json_get base_url)
	FAKE_APPID=$(json_get appid)
	FAKE_MCH_ID=$(json_get mch_id)
	FAKE_API_KEY=$(json_get api_key)
	FAKE_CA=$(json_get ca)
	FAKE_CERT=$(json_get cert)
	FAKE_KEY=$(json_get key)
fi
for v in FAKE_BASE_URL FAKE_APPID FAKE_MCH_ID FAKE_API_KEY FAKE_CA FAKE_CERT FAKE_KEY; do
	[ -n "${!v:-}" ] || die "$v is not set (pass the JSON line's file as the argument, or set it)"
done
BASE=$FAKE_BASE_URL APPID=$FAKE_APPID MCH_ID=$FAKE_MCH_ID API_KEY=$FAKE_API_KEY
CA=$FAKE_CA CERT=$FAKE_CERT KEY=$FAKE_KEY
for f in "$CA" "$CERT" "$KEY"; do
	[ -r "$f" ] || die "cannot read $f"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wxfake-demo.XXXXXX")
LISTENER_PID=
cleanup() {
	if [ -n "$LISTENER_PID" ]; then
		kill "$LISTENER_PID" 2>/dev/null || true
		wait "$LISTENER_PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

RUN="$(date +%s)$$"
ORDER="demo-order-$RUN" # 0-9 A-Z a-z _ - | * @, at most 32 characters
REFUND="demo-refund-$RUN"

# ---- helpers -----------------------------------------------------------------

# Fields travel between the helpers as "name=value" lines.

# string_to_sign: the API v2 string to sign over the fields on stdin
# (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3): drop sign
# and empty values, sort by name (byte order), join name=value with &,
# append &key=.
string_to_sign() {
	local line name value s=
	while IFS= read -r line; do
		name=${line%%=*} value=${line#*=}
		if [ "$name" = sign ] || [ -z "$value" ]; then
			continue
		fi
		s+="$name=$value&"
	done < <(LC_ALL=C sort -t= -k1,1)
	printf '%s' "${s}key=$API_KEY"
}

# sign: the MD5 sign of the fields on stdin: uppercase hex MD5 of the string.
sign() { string_to_sign | md5hex | tr 'a-f' 'A-F'; }

# to_xml: the fields on stdin as a flat <xml> document, values in CDATA.
to_xml() {
	local line
	printf '<xml>'
	while IFS= read -r line; do
		printf '<%s><![CDATA[%s]]></%s>' "${line%%=*}" "${line#*=}" "${line%%=*}"
	done
	printf '</xml>'
}

# xml_fields DOC ROOT: the children of DOC's ROOT element as name=value lines;
# values may be CDATA or text with the five predefined entities. Fails on
# anything else.
xml_fields() {
	local rest=$1 root=$2 name value re='^[[:space:]]*<([A-Za-z_][A-Za-z0-9_]*)>'
	case $rest in *"<$root>"*"</$root>"*) ;; *) return 1 ;; esac
	rest=${rest#*"<$root>"}
	rest=${rest%"</$root>"*}
	while [[ $rest =~ $re ]]; do
		name=${BASH_REMATCH[1]}
		rest=${rest#"${BASH_REMATCH[0]}"}
		case $rest in *"</$name>"*) ;; *) return 1 ;; esac
		value=${rest%%"</$name>"*}
		rest=${rest#*"</$name>"}
		if [[ $value == '<![CDATA['*']]>' ]]; then
			value=${value#'<![CDATA['}
			value=${value%']]>'}
		else
			value=${value//'&lt;'/'<'}
			value=${value//'&gt;'/'>'}
			value=${value//'&quot;'/'"'}
			value=${value//'&apos;'/"'"}
			value=${value//'&amp;'/'&'}
		fi
		printf '%s=%s\n' "$name" "$value"
	done
	[[ $rest =~ ^[[:space:]]*$ ]]
}

# field NAME: the value of NAME among the fields on stdin; fails when absent.
field() {
	local line
	while IFS= read -r line; do
		if [ "${line%%=*}" = "$1" ]; then
			printf '%s' "${line#*=}"
			return 0
		fi
	done
	return 1
}

# call METHOD PATH [curl options...]: an HTTPS request to the fake; sets
# STATUS (the HTTP status) and BODY.
call() {
	local method=$1 path=$2
	shift 2
	STATUS=$(curl -sS --max-time 10 --cacert "$CA" -o "$TMP/body" -w '%{http_code}' \
		-X "$method" "$@" "$BASE$path") || die "curl $method $BASE$path failed"
	BODY=$(cat "$TMP/body")
}

# api PATH FIELDS: POST the signed XML request of FIELDS (name=value lines)
# to PATH; checks return_code, verifies the answer's sign and checks
# result_code, and sets RESP to the answer's fields.
api() {
	local path=$1 fields=$2 sig xml want got rc
	shift 2
	sig=$(sign <<<"$fields")
	xml=$(to_xml <<<"$fields"$'\n'"sign=$sig")
	printf '%s' "$xml" >"$TMP/request.xml"
	call POST "$path" -H 'Content-Type: text/xml' --data-binary @"$TMP/request.xml" "$@"
	[ "$STATUS" = 200 ] || die "$path: HTTP $STATUS: $BODY"
	RESP=$(xml_fields "$BODY" xml) || die "$path: the answer is not flat XML: $BODY"
	rc=$(field return_code <<<"$RESP") || die "$path: no return_code in $BODY"
	[ "$rc" = SUCCESS ] || die "$path: return_code $rc: $(field return_msg <<<"$RESP" || true)"
	got=$(field sign <<<"$RESP") || die "$path: the answer has no sign"
	want=$(sign <<<"$RESP")
	[ "$got" = "$want" ] || die "$path: the answer's sign $got is not the expected $want"
	echo "   answer's sign verified: $got"
	rc=$(field result_code <<<"$RESP") || die "$path: no result_code"
	[ "$rc" = SUCCESS ] || die "$path: result_code $rc, err_code $(field err_code <<<"$RESP" || true): $(field err_code_des <<<"$RESP" || true)"
}

# want NAME VALUE: fails unless the field NAME of RESP is VALUE.
want() {
	local got
	got=$(field "$1" <<<"$RESP") || die "no $1 in the answer"
	[ "$got" = "$2" ] || die "$1 is $got, want $2"
	echo "   $1=$got"
}

# ---- the walkthrough ---------------------------------------------------------

echo "fake WeChat Pay at $BASE (appid $APPID, mch_id $MCH_ID)"

step "1. start the notification listener (python3, 127.0.0.1, a free port)"
python3 - "$TMP" >"$TMP/listener.log" 2>&1 <<'PY' &
import http.server, os, sys, time

out = sys.argv[1]
REPLY = b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"

class Handler(http.server.BaseHTTPRequestHandler):
    received = False

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with open(os.path.join(out, "notify.tmp"), "wb") as f:
            f.write(body)
        os.replace(os.path.join(out, "notify.tmp"), os.path.join(out, "notify.xml"))
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(REPLY)))
        self.end_headers()
        self.wfile.write(REPLY)
        Handler.received = True

srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
srv.timeout = 0.2
with open(os.path.join(out, "port.tmp"), "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(os.path.join(out, "port.tmp"), os.path.join(out, "port"))
deadline = time.monotonic() + 60  # never outlive a stuck demo by much
while not Handler.received and time.monotonic() < deadline:
    srv.handle_request()
srv.server_close()
PY
LISTENER_PID=$!
for ((i = 0; i < 100; i++)); do # up to 10s
	[ -s "$TMP/port" ] && break
	kill -0 "$LISTENER_PID" 2>/dev/null || die "the listener exited: $(cat "$TMP/listener.log")"
	sleep 0.1
done
[ -s "$TMP/port" ] || die "the listener did not start within 10s"
NOTIFY_URL="http://127.0.0.1:$(cat "$TMP/port")/wxpay/refund-notify"
echo "   notify_url=$NOTIFY_URL"

step "2. add a paid order: POST /fake/orders"
call POST /fake/orders -H 'Content-Type: application/json' \
	--data-binary "{\"out_trade_no\":\"$ORDER\",\"total_fee\":5000}"
[ "$STATUS" = 201 ] || die "POST /fake/orders: HTTP $STATUS: $BODY"
echo "   $BODY"

step "3. apply for a refund: POST /secapi/pay/refund with the client certificate"
REFUND_FIELDS="appid=$APPID
mch_id=$MCH_ID
nonce_str=$(openssl rand -hex 16)
out_trade_no=$ORDER
out_refund_no=$REFUND
total_fee=5000
refund_fee=2000
refund_desc=demo refund
notify_url=$NOTIFY_URL"
echo "   string to sign: $(string_to_sign <<<"$REFUND_FIELDS")"
echo "   sign:           $(sign <<<"$REFUND_FIELDS")"
api /secapi/pay/refund "$REFUND_FIELDS" --cert "$CERT" --key "$KEY"
want out_refund_no "$REFUND"
want refund_fee 2000
REFUND_ID=$(field refund_id <<<"$RESP") || die "no refund_id in the answer"
echo "   refund_id=$REFUND_ID"

step "4. query it: POST /pay/refundquery (no client certificate needed)"
QUERY_FIELDS="appid=$APPID
mch_id=$MCH_ID
nonce_str=$(openssl rand -hex 16)
out_refund_no=$REFUND"
api /pay/refundquery "$QUERY_FIELDS"
want refund_count 1
want out_refund_no_0 "$REFUND"
want refund_id_0 "$REFUND_ID"
want refund_status_0 PROCESSING

step "5. complete it: POST /fake/refunds/complete"
call POST /fake/refunds/complete -H 'Content-Type: application/json' \
	--data-binary "{\"out_refund_no\":\"$REFUND\",\"status\":\"SUCCESS\"}"
[ "$STATUS" = 200 ] || die "POST /fake/refunds/complete: HTTP $STATUS: $BODY"
echo "   $BODY"

step "6. receive the notification (up to 10s)"
for ((i = 0; i < 100; i++)); do
	[ -f "$TMP/notify.xml" ] && break
	sleep 0.1
done
[ -f "$TMP/notify.xml" ] || die "no notification at $NOTIFY_URL within 10s (listener log: $(cat "$TMP/listener.log"))"
NOTIFY=$(cat "$TMP/notify.xml")
echo "   $NOTIFY"
RESP=$(xml_fields "$NOTIFY" xml) || die "the notification is not flat XML"
want return_code SUCCESS
want appid "$APPID"
want mch_id "$MCH_ID"
REQ_INFO=$(field req_info <<<"$RESP") || die "no req_info in the notification"

step "7. decrypt req_info: AES-256-ECB, key = lowercase hex MD5 of the API key"
AES_KEY=$(printf '%s' "$API_KEY" | md5hex)                  # 32 hex characters...
AES_KEY_HEX=$(printf '%s' "$AES_KEY" | od -An -v -tx1 | tr -d ' \n') # ...used as 32 key bytes
echo "   openssl enc -d -aes-256-ecb -K $AES_KEY_HEX -a -A"
PLAIN=$(printf '%s' "$REQ_INFO" | openssl enc -d -aes-256-ecb -K "$AES_KEY_HEX" -a -A) ||
	die "openssl cannot decrypt req_info (wrong API key?)"
while IFS= read -r l; do echo "   $l"; done <<<"$PLAIN"
RESP=$(xml_fields "$PLAIN" root) || die "req_info does not decrypt to a <root> document"
want out_refund_no "$REFUND"
want out_trade_no "$ORDER"
want refund_id "$REFUND_ID"
want refund_fee 2000
want refund_status SUCCESS
echo "   (the listener replied <xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>)"

step "8. see the acknowledged delivery: GET /fake/deliveries"
found=
for ((i = 0; i < 50; i++)); do # up to 5s: the fake records it after reading the reply
	call GET /fake/deliveries
	[ "$STATUS" = 200 ] || die "GET /fake/deliveries: HTTP $STATUS: $BODY"
	objects=${BODY#'['}
	objects=${objects%']'}
	objects=${objects//'},{'/$'}\n{'}
	while IFS= read -r obj; do
		case $obj in *"\"out_refund_no\":\"$REFUND\""*) ;; *) continue ;; esac
		case $obj in *'"status_code":200'*'"return_code":"SUCCESS"'*)
			found=$obj
			break
			;;
		esac
	done <<<"$objects"
	[ -z "$found" ] || break
	sleep 0.1
done
[ -n "$found" ] || die "GET /fake/deliveries shows no acknowledged delivery of $REFUND: $BODY"
echo "   $found"

step "9. query again: the refund is SUCCESS now"
QUERY_FIELDS="appid=$APPID
mch_id=$MCH_ID
nonce_str=$(openssl rand -hex 16)
out_refund_no=$REFUND"
api /pay/refundquery "$QUERY_FIELDS"
want refund_status_0 SUCCESS

echo
echo "demo.sh: OK"
