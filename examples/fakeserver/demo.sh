#!/usr/bin/env bash
# demo.sh: the README.md walkthrough as a script, steps 1 to 12 in the same
# order: a whole WeChat Pay API v2 refund against fakeserver, then the refund
# bill, failover to the backup domain and partner (服务商) mode, using only
# curl, openssl and coreutils (md5sum, od, tr, sort, cut, head, tail, wc). python3
# (standard library) serves only as the tiny HTTP listener that receives the
# refund notification, and as gunzip when gunzip is missing.
#
#   bash examples/fakeserver/demo.sh                  # starts its own simulators
#   bash examples/fakeserver/demo.sh /tmp/fake.json   # uses one you started
#
# Without an argument (and without FAKE_BASE_URL) step 1 starts a simulator on
# free ports of 127.0.0.1. With an argument, the simulator is the one whose
# JSON line is in that file (the script waits up to 60s for it):
#
#   /tmp/fakeserver -addr 127.0.0.1:0 -dir /tmp/fc > /tmp/fake.json &
#
# With FAKE_BASE_URL set, the values come from the environment instead:
# FAKE_BASE_URL, FAKE_BACKUP_URL, FAKE_APPID, FAKE_MCH_ID, FAKE_API_KEY,
# FAKE_CA, FAKE_CERT and FAKE_KEY. Step 12 always starts a second simulator,
# with -partner. Both are started from FAKESERVER, the path of a fakeserver
# binary (go build -o /tmp/fakeserver ./examples/fakeserver); without it the
# script builds one with `go build`. The simulators and the listener it
# started are stopped when it exits: after success, a failure, SIGINT or
# SIGTERM.
#
# A simulator you started keeps what the demo did to it: new orders and
# refunds, a synthetic bill for 20240603, and emptied failure queues
# (POST /fake/faults/clear); its primary domain is down for a moment.
#
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
	echo "usage: demo.sh [file-with-fakeserver-json-line]   (or set FAKE_BASE_URL, FAKE_BACKUP_URL, FAKE_APPID, FAKE_MCH_ID, FAKE_API_KEY, FAKE_CA, FAKE_CERT, FAKE_KEY; FAKESERVER: a fakeserver binary)" >&2
	exit 2
fi

for t in curl openssl python3 od tr sort cut head tail wc; do
	have "$t" || die "$t is not installed"
done
if have md5sum; then
	md5hex() { md5sum | cut -c1-32; }
elif have md5; then # macOS without coreutils
	md5hex() { md5 -q; }
else
	die "md5sum is not installed"
fi
if have gunzip; then
	gunzip_stdin() { gunzip -c; }
else
	gunzip_stdin() { python3 -c 'import gzip, sys; sys.stdout.buffer.write(gzip.decompress(sys.stdin.buffer.read()))'; }
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wxfake-demo.XXXXXX")
LISTENER_PID= FAKE_PID= PARTNER_PID= PRIMARY_DOWN=
stop_process() { # PID: SIGTERM, then wait for it
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	if [ -n "$PRIMARY_DOWN" ]; then # step 11 failed with the primary down: bring it back
		curl -sS --max-time 5 --cacert "$CA" -o /dev/null -d '{"domain":"api","down":false}' "$BACKUP/fake/domains" || true
	fi
	for pid in "$LISTENER_PID" "$PARTNER_PID" "$FAKE_PID"; do
		if [ -n "$pid" ]; then
			stop_process "$pid"
		fi
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The mode, and the fakeserver binary when one is to be started.
if [ $# -eq 1 ]; then
	MODE=file
elif [ -n "${FAKE_BASE_URL:-}" ]; then
	MODE=env
else
	MODE=start
fi
if [ -n "${FAKESERVER:-}" ]; then
	[ -x "$FAKESERVER" ] || die "FAKESERVER=$FAKESERVER is not an executable file"
elif have go; then
	echo "building fakeserver (go build; set FAKESERVER to a fakeserver binary to skip this)"
	(cd "$(dirname "${BASH_SOURCE[0]}")" && go build -o "$TMP/fakeserver" .) ||
		die "go build failed (set FAKESERVER to a fakeserver binary)"
	FAKESERVER=$TMP/fakeserver
else
	die "FAKESERVER is not set and go is not installed: build fakeserver (go build -o /tmp/fakeserver ./examples/fakeserver) and set FAKESERVER=/tmp/fakeserver"
fi

# read_line FILE [PID]: the first line of FILE, waiting up to 60s (`go run`
# may still be compiling); with PID, fails as soon as that process exits.
read_line() {
	local file=$1 pid=${2:-} line=
	for ((i = 0; i < 600; i++)); do
		if [ -f "$file" ] && IFS= read -r line <"$file"; then
			printf '%s' "$line"
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# json_get LINE KEY: the string value of KEY in the JSON line LINE.
json_get() {
	local re="\"$2\":\"([^\"\\\\]*)\""
	[[ $1 =~ $re ]] || die "no plain string \"$2\" in the JSON line $1 (values with escapes: use the FAKE_* variables)"
	printf '%s' "${BASH_REMATCH[1]}"
}

# use_line LINE: talk to the simulator that printed LINE from now on.
use_line() {
	BASE=$(json_get "$1" base_url)
	BACKUP=$(json_get "$1" backup_url)
	APPID=$(json_get "$1" appid)
	MCH_ID=$(json_get "$1" mch_id)
	API_KEY=$(json_get "$1" api_key)
	CA=$(json_get "$1" ca)
	CERT=$(json_get "$1" cert)
	KEY=$(json_get "$1" key)
}

# start_fakeserver NAME PIDVAR ARGS...: starts FAKESERVER with ARGS, its
# JSON line to $TMP/NAME.json and its log to $TMP/NAME.log; sets PIDVAR (at
# once, for cleanup) and STARTED_LINE.
start_fakeserver() {
	local name=$1 pidvar=$2
	shift 2
	"$FAKESERVER" "$@" >"$TMP/$name.json" 2>"$TMP/$name.log" &
	printf -v "$pidvar" '%s' "$!"
	STARTED_LINE=$(read_line "$TMP/$name.json" "${!pidvar}") ||
		die "$FAKESERVER printed no JSON line: $(cat "$TMP/$name.log")"
}

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

# readme_sign STRING WANT: checks a worked example of README.md: the MD5
# sign of the string to sign STRING (with the default key in it) is WANT.
readme_sign() {
	local got
	got=$(printf '%s' "$1" | md5hex | tr 'a-f' 'A-F')
	[ "$got" = "$2" ] || die "README.md's worked example signs to $got, not $2: $1"
	echo "   README.md's worked example: $got"
}

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

# fetch METHOD URL [curl options...]: an HTTPS request; sets CURL_RC (curl's
# exit status: 7 is "Failed to connect"), STATUS (the HTTP status) and BODY,
# and leaves the body's bytes in $TMP/body.
fetch() {
	local method=$1 url=$2
	shift 2
	CURL_RC=0
	STATUS=$(curl -sS --max-time 10 --cacert "$CA" -o "$TMP/body" -w '%{http_code}' \
		-X "$method" "$@" "$url" 2>"$TMP/curl.err") || CURL_RC=$?
	BODY=$(tr -d '\000' <"$TMP/body" 2>/dev/null || true)
}

# call METHOD PATH [curl options...]: fetch from the domain AT (default: the
# primary, BASE); fails unless curl got an answer.
call() {
	local method=$1 path=$2
	shift 2
	fetch "$method" "${AT:-$BASE}$path" "$@"
	[ "$CURL_RC" = 0 ] || die "curl $method ${AT:-$BASE}$path failed: $(cat "$TMP/curl.err")"
}

# admin METHOD PATH [JSON]: an admin API call on the domain AT (default
# BASE); fails unless it answers HTTP 200 or 201, and prints the answer.
admin() {
	if [ $# -gt 2 ]; then
		call "$1" "$2" -H 'Content-Type: application/json' --data-binary "$3"
	else
		call "$1" "$2"
	fi
	[ "$STATUS" = 200 ] || [ "$STATUS" = 201 ] || die "$1 $2: HTTP $STATUS: $BODY"
	echo "   $1 $2 -> $BODY"
}

# post PATH FIELDS [curl options...]: POSTs the signed XML request of FIELDS
# (name=value lines) to PATH on the domain AT (default BASE); checks HTTP 200
# and sets RESP to the answer's fields.
post() {
	local path=$1 fields=$2
	shift 2
	to_xml <<<"$fields"$'\n'"sign=$(sign <<<"$fields")" >"$TMP/request.xml"
	call POST "$path" -H 'Content-Type: text/xml' --data-binary @"$TMP/request.xml" "$@"
	[ "$STATUS" = 200 ] || die "$path: HTTP $STATUS: $BODY"
	RESP=$(xml_fields "$BODY" xml) || die "$path: the answer is not flat XML: $BODY"
}

# signed PATH: checks that RESP has return_code SUCCESS and a valid sign.
signed() {
	local rc got want
	rc=$(field return_code <<<"$RESP") || die "$1: no return_code in $BODY"
	[ "$rc" = SUCCESS ] || die "$1: return_code $rc: $(field return_msg <<<"$RESP" || true)"
	got=$(field sign <<<"$RESP") || die "$1: the answer has no sign"
	want=$(sign <<<"$RESP")
	[ "$got" = "$want" ] || die "$1: the answer's sign $got is not the expected $want"
	echo "   answer's sign verified: $got"
}

# api PATH FIELDS [curl options...]: post, verify the answer's sign and
# check result_code SUCCESS.
api() {
	local rc
	post "$@"
	signed "$1"
	rc=$(field result_code <<<"$RESP") || die "$1: no result_code"
	[ "$rc" = SUCCESS ] || die "$1: result_code $rc, err_code $(field err_code <<<"$RESP" || true): $(field err_code_des <<<"$RESP" || true)"
}

# api_err_code PATH FIELDS ERR_CODE [curl options...]: post, verify the
# answer's sign and check result_code FAIL with ERR_CODE.
api_err_code() {
	local path=$1 fields=$2 code=$3
	shift 3
	post "$path" "$fields" "$@"
	signed "$path"
	want result_code FAIL
	want err_code "$code"
}

# api_refused PATH FIELDS RETURN_MSG [curl options...]: post and check an
# unsigned return_code FAIL with RETURN_MSG.
api_refused() {
	local path=$1 fields=$2 msg=$3
	shift 3
	post "$path" "$fields" "$@"
	want return_code FAIL
	want return_msg "$msg"
	! field sign <<<"$RESP" >/dev/null || die "$path: a refusal with a sign"
}

# want NAME VALUE: fails unless the field NAME of RESP is VALUE.
want() {
	local got
	got=$(field "$1" <<<"$RESP") || die "no $1 in the answer"
	[ "$got" = "$2" ] || die "$1 is $got, want $2"
	echo "   $1=$got"
}

# json_objects: the objects of the flat JSON array in BODY, one a line.
json_objects() {
	local objects=${BODY#'['}
	objects=${objects%']'}
	printf '%s\n' "${objects//'},{'/$'}\n{'}"
}

# query_fields OUT_REFUND_NO [name=value...]: the fields of a refund query.
query_fields() {
	local no=$1
	shift
	printf 'appid=%s\nmch_id=%s\nnonce_str=%s\nout_refund_no=%s\n' "$APPID" "$MCH_ID" "$(openssl rand -hex 16)" "$no"
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@"
	fi
}

# bill_fields DATE [name=value...]: the fields of a REFUND bill download.
bill_fields() {
	local date=$1
	shift
	printf 'appid=%s\nmch_id=%s\nnonce_str=%s\nbill_date=%s\nbill_type=REFUND\n' "$APPID" "$MCH_ID" "$(openssl rand -hex 16)" "$date"
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@"
	fi
}

# bill DATE [name=value...]: downloads the REFUND bill of DATE; the text is
# in BODY (with tar_type=GZIP the gzip is in $TMP/body). A failure answer is
# in RESP instead, and BILL_OK is empty.
bill() {
	local fields
	fields=$(bill_fields "$@")
	to_xml <<<"$fields"$'\n'"sign=$(sign <<<"$fields")" >"$TMP/request.xml"
	call POST /pay/downloadbill -H 'Content-Type: text/xml' --data-binary @"$TMP/request.xml"
	[ "$STATUS" = 200 ] || die "/pay/downloadbill: HTTP $STATUS: $BODY"
	BILL_OK= RESP=
	case $BODY in
	'<xml>'*) RESP=$(xml_fields "$BODY" xml) || die "/pay/downloadbill: the answer is not flat XML: $BODY" ;;
	*) BILL_OK=1 ;;
	esac
}

# ---- the walkthrough ---------------------------------------------------------

# The notification listener of step 6 starts first, on a free port, so that
# the refund of step 3 can name it in notify_url.
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

    def log_message(self, *args):
        pass

srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
srv.timeout = 0.2
with open(os.path.join(out, "port.tmp"), "w") as f:
    f.write(str(srv.server_address[1]))
os.replace(os.path.join(out, "port.tmp"), os.path.join(out, "port"))
deadline = time.monotonic() + 120  # never outlive a stuck demo by much
while not Handler.received and time.monotonic() < deadline:
    srv.handle_request()
srv.server_close()
PY
LISTENER_PID=$!
for ((i = 0; i < 100; i++)); do # up to 10s
	[ -s "$TMP/port" ] && break
	kill -0 "$LISTENER_PID" 2>/dev/null || die "the notification listener exited: $(cat "$TMP/listener.log")"
	sleep 0.1
done
[ -s "$TMP/port" ] || die "the notification listener did not start within 10s"
NOTIFY_URL="http://127.0.0.1:$(cat "$TMP/port")/wxpay/refund-notify"

case $MODE in
start)
	step "1. start the simulator: fakeserver -addr 127.0.0.1:0 -dir $TMP/certs"
	start_fakeserver fake FAKE_PID -addr 127.0.0.1:0 -dir "$TMP/certs"
	LINE=$STARTED_LINE
	;;
file)
	step "1. start the simulator: you did, its JSON line is in $1"
	LINE=$(read_line "$1") || die "no JSON line in $1 after 60s (is fakeserver running with stdout redirected there?)"
	;;
env)
	step "1. start the simulator: you did, its values are in FAKE_*"
	for v in FAKE_BASE_URL FAKE_BACKUP_URL FAKE_APPID FAKE_MCH_ID FAKE_API_KEY FAKE_CA FAKE_CERT FAKE_KEY; do
		[ -n "${!v:-}" ] || die "$v is not set (pass the JSON line's file as the argument, or set it)"
	done
	LINE="{\"base_url\":\"$FAKE_BASE_URL\",\"backup_url\":\"$FAKE_BACKUP_URL\",\"appid\":\"$FAKE_APPID\",\"mch_id\":\"$FAKE_MCH_ID\",\"api_key\":\"$FAKE_API_KEY\",\"ca\":\"$FAKE_CA\",\"cert\":\"$FAKE_CERT\",\"key\":\"$FAKE_KEY\"}"
	;;
esac
echo "   $LINE"
case $LINE in *'"sub_mch_ids"'*) die "the simulator runs with -partner; start it without (step 12 starts a partner one of its own)" ;; esac
use_line "$LINE"
for f in "$CA" "$CERT" "$KEY"; do
	[ -r "$f" ] || die "cannot read $f"
done
MAIN_LINE=$LINE
echo "   primary domain $BASE, backup domain $BACKUP (appid $APPID, mch_id $MCH_ID)"

step "2. add a paid order: POST /fake/orders"
admin POST /fake/orders "{\"out_trade_no\":\"$ORDER\",\"total_fee\":5000}"

step "3. sign a refund request: MD5 of the sorted name=value pairs and &key="
readme_sign 'appid=wx8888888888888888&mch_id=1900000109&nonce_str=5K8264ILTKCH16CQ2502SI8ZNMTM67VS&notify_url=http://127.0.0.1:9000/notify&out_refund_no=REFUND1&out_trade_no=ORDER1&refund_desc=商品缺货&refund_fee=2000&total_fee=5000&key=wxrefundtestFakeAPIKey0123456789' \
	26EB9B00F3BD90226BCBC042D8F8B62C
REFUND_FIELDS="appid=$APPID
mch_id=$MCH_ID
nonce_str=$(openssl rand -hex 16)
out_trade_no=$ORDER
out_refund_no=$REFUND
total_fee=5000
refund_fee=2000
refund_desc=商品缺货
notify_url=$NOTIFY_URL"
echo "   string to sign: $(string_to_sign <<<"$REFUND_FIELDS")"
echo "   sign:           $(sign <<<"$REFUND_FIELDS")"

step "4. apply for the refund: POST /secapi/pay/refund with the client certificate"
to_xml <<<"$REFUND_FIELDS"$'\n'"sign=$(sign <<<"$REFUND_FIELDS")" >"$TMP/request.xml"
call POST /secapi/pay/refund -H 'Content-Type: text/xml' --data-binary @"$TMP/request.xml"
[ "$STATUS" = 400 ] && [[ $BODY == *"No required SSL certificate was sent"* ]] ||
	die "without the client certificate: HTTP $STATUS: $BODY"
echo "   without the certificate: HTTP 400 No required SSL certificate was sent"
api /secapi/pay/refund "$REFUND_FIELDS" --cert "$CERT" --key "$KEY"
want out_refund_no "$REFUND"
want refund_fee 2000
REFUND_ID=$(field refund_id <<<"$RESP") || die "no refund_id in the answer"
echo "   refund_id=$REFUND_ID"

step "5. query it: POST /pay/refundquery (no client certificate needed)"
readme_sign 'appid=wx8888888888888888&mch_id=1900000109&nonce_str=Q1w2E3r4T5y6U7i8&out_refund_no=REFUND1&key=wxrefundtestFakeAPIKey0123456789' \
	346B4717D98AFED9931E17D70941672A
api /pay/refundquery "$(query_fields "$REFUND")"
want refund_count 1
want out_refund_no_0 "$REFUND"
want refund_id_0 "$REFUND_ID"
want refund_status_0 PROCESSING

step "6. listen for the notification"
kill -0 "$LISTENER_PID" 2>/dev/null || die "the notification listener exited: $(cat "$TMP/listener.log")"
echo "   python3 listener at $NOTIFY_URL, the refund's notify_url (started before step 3 to know its free port)"

step "7. complete the refund: POST /fake/refunds/complete"
admin POST /fake/refunds/complete "{\"out_refund_no\":\"$REFUND\",\"status\":\"SUCCESS\"}"

step "8. decrypt the notification and acknowledge it"
for ((i = 0; i < 100; i++)); do # up to 10s
	[ -f "$TMP/notify.xml" ] && break
	sleep 0.1
done
[ -f "$TMP/notify.xml" ] || die "no notification at $NOTIFY_URL within 10s (listener log: $(cat "$TMP/listener.log"))"
NOTIFY=$(cat "$TMP/notify.xml")
echo "   received: $NOTIFY"
RESP=$(xml_fields "$NOTIFY" xml) || die "the notification is not flat XML"
want return_code SUCCESS
want appid "$APPID"
want mch_id "$MCH_ID"
REQ_INFO=$(field req_info <<<"$RESP") || die "no req_info in the notification"
AES_KEY=$(printf '%s' "$API_KEY" | md5hex)                          # 32 hex characters...
AES_KEY_HEX=$(printf '%s' "$AES_KEY" | od -An -v -tx1 | tr -d ' \n') # ...used as 32 key bytes
echo "   openssl enc -d -aes-256-ecb -K $AES_KEY_HEX -a -A"
PLAIN=$(printf '%s' "$REQ_INFO" | openssl enc -d -aes-256-ecb -K "$AES_KEY_HEX" -a -A) ||
	die "openssl cannot decrypt req_info (wrong API key?)"
echo "   $PLAIN"
RESP=$(xml_fields "$PLAIN" root) || die "req_info does not decrypt to a <root> document"
want out_refund_no "$REFUND"
want out_trade_no "$ORDER"
want refund_id "$REFUND_ID"
want refund_fee 2000
want refund_status SUCCESS
echo "   the listener acknowledged: <xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"

step "9. see the delivery: GET /fake/deliveries"
found=
for ((i = 0; i < 50; i++)); do # up to 5s: the fake records it after reading the reply
	call GET /fake/deliveries
	[ "$STATUS" = 200 ] || die "GET /fake/deliveries: HTTP $STATUS: $BODY"
	while IFS= read -r obj; do
		case $obj in *"\"out_refund_no\":\"$REFUND\""*'"status_code":200'*'"return_code":"SUCCESS"'*)
			found=$obj
			break
			;;
		esac
	done < <(json_objects)
	[ -z "$found" ] || break
	sleep 0.1
done
[ -n "$found" ] || die "GET /fake/deliveries shows no acknowledged delivery of $REFUND: $BODY"
echo "   $found"
echo "   a query now reports SUCCESS:"
api /pay/refundquery "$(query_fields "$REFUND")"
want refund_status_0 SUCCESS
SUCCESS_TIME=$(field refund_success_time_0 <<<"$RESP") || die "no refund_success_time_0 in the answer"
echo "   refund_success_time_0=$SUCCESS_TIME"

step "10. download the refund bill: POST /pay/downloadbill, bill_type=REFUND"
readme_sign 'appid=wx8888888888888888&bill_date=20261125&bill_type=REFUND&mch_id=1900000109&nonce_str=Z9y8X7w6V5u4T3s2&key=wxrefundtestFakeAPIKey0123456789' \
	5E0186B5E0BF3E7789CC67CC106AC548
BILL_DATE=$(TZ=CST-8 date +%Y%m%d) # today in China (UTC+8)
echo "   bill_date=$BILL_DATE"
bill "$BILL_DATE"
[ -n "$BILL_OK" ] || die "no bill for today: $BODY"
TEXT=$BODY
HEADER=${TEXT%%$'\n'*}
[[ $HEADER == 交易时间,公众账号ID,商户号,* ]] || die "the bill's header is $HEADER"
echo "   $HEADER"
ROW=
while IFS= read -r l; do
	case $l in *",\`$REFUND,"*) ROW=$l ;; esac
done <<<"$TEXT"
[ -n "$ROW" ] || die "the bill has no line for $REFUND:"$'\n'"$TEXT"
echo "   $ROW"
echo "   ... and its summary: ${TEXT##*$'\n'}"
bill "$BILL_DATE" tar_type=GZIP
cp "$TMP/body" "$TMP/bill.gz"
[ "$(gunzip_stdin <"$TMP/bill.gz")" = "$TEXT" ] || die "the gzipped bill is not the same text"
echo "   with tar_type=GZIP: $(wc -c <"$TMP/bill.gz" | tr -d ' ') bytes of gzip, the same text"
echo "   a day without refunds (20240101):"
bill 20240101
want return_msg "No Bill Exist"
want error_code 20002
echo "   the next download answers Bill Creating:"
admin POST /fake/bills/fail '{"return_msg":"Bill Creating","times":1}'
bill "$BILL_DATE"
want return_code FAIL
want return_msg "Bill Creating"
bill "$BILL_DATE"
[ -n "$BILL_OK" ] || die "after Bill Creating: $BODY"
echo "   and the one after that the bill again"
echo "   a synthetic bill of a million rows:"
admin POST /fake/bills/synthetic '{"bill_date":"20240603","rows":1000000}'
fields=$(bill_fields 20240603)
to_xml <<<"$fields"$'\n'"sign=$(sign <<<"$fields")" >"$TMP/request.xml"
FIRST=$(curl -s --max-time 10 --cacert "$CA" -H 'Content-Type: text/xml' --data-binary @"$TMP/request.xml" \
	"$BASE/pay/downloadbill" | head -n 2) || true # curl fails writing when head is done
[[ $FIRST == *$'\n'*'`SYNR0000000000,'* ]] || die "the synthetic bill begins with $FIRST"
echo "   its first lines (| head -n 2):"
while IFS= read -r l; do echo "   $l"; done <<<"$FIRST"

step "11. fail over to the backup domain: POST /fake/faults, POST /fake/domains"
admin POST /fake/faults '{"domain":"api","path":"/pay/refundquery","fault":"502","times":1}'
QUERY=$(query_fields "$REFUND")
to_xml <<<"$QUERY"$'\n'"sign=$(sign <<<"$QUERY")" >"$TMP/query.xml"
call POST /pay/refundquery -H 'Content-Type: text/xml' --data-binary @"$TMP/query.xml"
[ "$STATUS" = 502 ] && [[ $BODY == *"<title>502 Bad Gateway</title>"* ]] || die "the query after the 502 fault: HTTP $STATUS: $BODY"
echo "   the query to the primary $BASE: HTTP 502, nginx's HTML page \"502 Bad Gateway\""
echo "   the same query to the backup $BACKUP:"
AT=$BACKUP api /pay/refundquery "$QUERY"
want out_refund_no_0 "$REFUND"
want refund_status_0 SUCCESS
echo "   take the primary down:"
PRIMARY_DOWN=1
admin POST /fake/domains '{"domain":"api","down":true}'
# A domain that is down resets every connection: curl fails to connect
# (exit 35, 52 or 56, or 7 once the simulator is gone).
unreachable() { case "$CURL_RC" in 7 | 35 | 52 | 56) return 0 ;; esac; return 1; }
for ((i = 0; i < 50; i++)); do # up to 5s: it closes once this answer is sent
	fetch POST "$BASE/pay/refundquery" -H 'Content-Type: text/xml' --data-binary @"$TMP/query.xml"
	unreachable && break
	sleep 0.1
done
unreachable || die "the primary still answers after going down: curl exit $CURL_RC, HTTP $STATUS"
echo "   the query to the primary: $(cat "$TMP/curl.err")"
echo "   the same query to the backup:"
AT=$BACKUP api /pay/refundquery "$QUERY"
want refund_status_0 SUCCESS
echo "   bring the primary back through the backup:"
AT=$BACKUP admin POST /fake/domains '{"domain":"api","down":false}'
PRIMARY_DOWN=
AT=$BACKUP admin GET /fake/domains
[[ $BODY == *'"domain":"api",'*'"down":false'*'"domain":"api2",'*'"down":false'* ]] || die "the domains are not both up: $BODY"
echo "   which domain each request reached (GET /fake/requests, the last ones):"
call GET /fake/requests
[ "$STATUS" = 200 ] || die "GET /fake/requests: HTTP $STATUS: $BODY"
json_objects | tail -n 4 | while IFS= read -r obj; do echo "   $obj"; done
[[ $BODY == *'{"domain":"api","path":"/pay/refundquery",'*'"fault":"502"}'* ]] || die "GET /fake/requests shows no 502: $BODY"
[[ $BODY == *'{"domain":"api2","path":"/pay/refundquery",'* ]] || die "GET /fake/requests shows no query to api2: $BODY"
echo "   empty every queued failure:"
admin POST /fake/faults/clear
echo "   the query to the primary answers again:"
api /pay/refundquery "$(query_fields "$REFUND")"
want refund_status_0 SUCCESS

step "12. partner mode (服务商): a second simulator with -partner 1900000110,1900000111"
SUB_A=1900000110 SUB_B=1900000111
POUT="demo-porder-$RUN" PREFUND="demo-prefund-$RUN"
start_fakeserver partner PARTNER_PID -addr 127.0.0.1:0 -dir "$TMP/partner-certs" -partner "$SUB_A,$SUB_B"
echo "   $STARTED_LINE"
[[ $STARTED_LINE == *"\"sub_mch_ids\":[\"$SUB_A\",\"$SUB_B\"]"* ]] || die "no sub_mch_ids in the JSON line"
use_line "$STARTED_LINE"
echo "   partner simulator at $BASE (service provider $MCH_ID)"
admin POST /fake/orders "{\"out_trade_no\":\"$POUT\",\"total_fee\":3000,\"sub_mch_id\":\"$SUB_A\"}"
readme_sign 'appid=wx8888888888888888&mch_id=1900000109&nonce_str=5K8264ILTKCH16CQ2502SI8ZNMTM67VS&out_refund_no=PREFUND1&out_trade_no=PORDER1&refund_fee=1000&sub_mch_id=1900000110&total_fee=3000&key=wxrefundtestFakeAPIKey0123456789' \
	9A955FAE18BE24D0E26E24AA5C011C6E
PREFUND_FIELDS="appid=$APPID
mch_id=$MCH_ID
nonce_str=$(openssl rand -hex 16)
out_trade_no=$POUT
out_refund_no=$PREFUND
total_fee=3000
refund_fee=1000"
echo "   a refund for $SUB_A:"
api /secapi/pay/refund "$PREFUND_FIELDS"$'\n'"sub_mch_id=$SUB_A" --cert "$CERT" --key "$KEY"
want sub_mch_id "$SUB_A"
want out_refund_no "$PREFUND"
want refund_fee 1000
echo "   its query:"
api /pay/refundquery "$(query_fields "$PREFUND" sub_mch_id=$SUB_A)"
want sub_mch_id "$SUB_A"
want refund_status_0 PROCESSING
echo "   the other sub-merchant sees nothing:"
api_err_code /pay/refundquery "$(query_fields "$PREFUND" sub_mch_id=$SUB_B)" REFUNDNOTEXIST
api_err_code /secapi/pay/refund "$PREFUND_FIELDS"$'\n'"sub_mch_id=$SUB_B" ORDERNOTEXIST --cert "$CERT" --key "$KEY"
echo "   refused: no sub_mch_id"
api_refused /secapi/pay/refund "$PREFUND_FIELDS" 受理机构必须传入sub_mch_id --cert "$CERT" --key "$KEY"
echo "   refused: a sub_mch_id the provider does not serve (1900000199)"
api_refused /pay/refundquery "$(query_fields "$PREFUND" sub_mch_id=1900000199)" 受理关系不存在
echo "   refused: a sub_appid not bound to $SUB_A"
api_refused /pay/refundquery "$(query_fields "$PREFUND" sub_mch_id=$SUB_A sub_appid=wx0000000000000000)" sub_mch_id与sub_appid不匹配
echo "   $SUB_A's refund bill:"
bill "$BILL_DATE" sub_mch_id=$SUB_A
[ -n "$BILL_OK" ] || die "no bill for $SUB_A: $BODY"
ROW=
while IFS= read -r l; do
	case $l in *",\`$SUB_A,"*",\`$PREFUND,"*) ROW=$l ;; esac
done <<<"$BODY"
[ -n "$ROW" ] || die "the bill of $SUB_A has no line for $PREFUND:"$'\n'"$BODY"
echo "   $ROW"
echo "   $SUB_B's refund bill:"
bill "$BILL_DATE" sub_mch_id=$SUB_B
want return_msg "No Bill Exist"
stop_process "$PARTNER_PID"
PARTNER_PID=
echo "   partner simulator stopped"
use_line "$MAIN_LINE"
echo "   refused: a sub_mch_id to the first simulator, a direct merchant"
api_refused /pay/refundquery "$(query_fields "$REFUND" sub_mch_id=$SUB_A)" 普通商户不允许传sub_mch_id

echo
echo "demo.sh: OK"
