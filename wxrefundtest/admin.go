package wxrefundtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-wxpay/wxrefund"
)

// adminHandler serves the JSON admin API documented on Server.Handler.
func (s *Server) adminHandler() http.Handler {
	routes := map[string]map[string]http.HandlerFunc{
		"/fake/orders":            {http.MethodPost: s.adminAddOrder},
		"/fake/refunds":           {http.MethodGet: s.adminRefunds},
		"/fake/refunds/complete":  {http.MethodPost: s.adminComplete},
		"/fake/refunds/redeliver": {http.MethodPost: s.adminRedeliver},
		"/fake/deliveries":        {http.MethodGet: s.adminDeliveries},
		"/fake/fail":              {http.MethodPost: s.adminFail},
		"/fake/lose":              {http.MethodPost: s.adminLose},
		"/fake/balance":           {http.MethodGet: s.adminGetBalance, http.MethodPost: s.adminSetBalance},
		"/fake/bills/fail":        {http.MethodPost: s.adminFailBill},
		"/fake/bills/synthetic":   {http.MethodPost: s.adminSyntheticBill},
		"/fake/faults":            {http.MethodPost: s.adminFault},
		"/fake/faults/clear":      {http.MethodPost: s.adminClearFaults},
		"/fake/domains":           {http.MethodGet: s.adminDomains, http.MethodPost: s.adminSetDomain},
		"/fake/requests":          {http.MethodGet: s.adminRequests},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The admin API changes the fake's state on POST and answers anyone
		// who can reach it, so a page on another site open in the
		// developer's browser must not drive it (cross-site request
		// forgery). Requests without Origin or Sec-Fetch-Site, as curl and
		// Go clients send them, pass.
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(r) {
			writeJSONError(w, http.StatusForbidden, "forbidden: a cross-site request to the admin API")
			return
		}
		if r.URL.Path == PathConsole || strings.HasPrefix(r.URL.Path, PathConsole+"/") {
			s.serveConsole(w, r)
			return
		}
		methods, ok := routes[r.URL.Path]
		if !ok {
			writeJSONError(w, http.StatusNotFound, "unknown admin path "+r.URL.Path)
			return
		}
		h, ok := methods[r.Method]
		if !ok {
			allow := make([]string, 0, len(methods))
			for m := range methods {
				allow = append(allow, m)
			}
			slices.Sort(allow)
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeJSONError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
			return
		}
		h(w, r)
	})
}

func (s *Server) adminAddOrder(w http.ResponseWriter, r *http.Request) {
	var o Order
	if !readJSON(w, r, &o) {
		return
	}
	stored, err := s.addOrder(o)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, stored)
}

func (s *Server) adminRefunds(w http.ResponseWriter, r *http.Request) {
	no := r.URL.Query().Get("out_trade_no")
	if no == "" {
		writeJSONError(w, http.StatusBadRequest, "the out_trade_no query parameter is required")
		return
	}
	if _, ok := s.Order(no); !ok {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("no order with out_trade_no %q", no))
		return
	}
	writeJSON(w, http.StatusOK, s.Refunds(no))
}

type refundRef struct {
	OutRefundNo string                `json:"out_refund_no"`
	Status      wxrefund.RefundStatus `json:"status"`
}

func (s *Server) adminComplete(w http.ResponseWriter, r *http.Request) {
	var in refundRef
	if !readJSON(w, r, &in) {
		return
	}
	if err := s.Complete(in.OutRefundNo, in.Status); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	st, _ := s.RefundState(in.OutRefundNo)
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) adminRedeliver(w http.ResponseWriter, r *http.Request) {
	var in refundRef
	if !readJSON(w, r, &in) {
		return
	}
	err := s.Redeliver(in.OutRefundNo)
	switch {
	case errors.Is(err, ErrDeliveryFailed):
		writeJSONError(w, http.StatusBadGateway, err.Error())
		return
	case err != nil:
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	ds := s.Deliveries()
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].OutRefundNo == in.OutRefundNo && ds[i].Duplicate {
			writeJSON(w, http.StatusOK, ds[i])
			return
		}
	}
	writeJSON(w, http.StatusOK, struct{}{}) // unreachable: Redeliver recorded one
}

func (s *Server) adminDeliveries(w http.ResponseWriter, r *http.Request) {
	ds := s.Deliveries()
	if ds == nil {
		ds = []Delivery{}
	}
	writeJSON(w, http.StatusOK, ds)
}

func (s *Server) adminFail(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Path    string `json:"path"`
		ErrCode string `json:"err_code"`
		Times   int    `json:"times"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if err := checkFail(in.Path, in.ErrCode, in.Times); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.FailNext(in.Path, in.ErrCode, in.Times)
	writeJSON(w, http.StatusOK, in)
}

func (s *Server) adminLose(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ErrCode *string `json:"err_code,omitempty"` // required: "" drops the connection
		Times   int     `json:"times"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if in.ErrCode == nil {
		writeJSONError(w, http.StatusBadRequest, `err_code is required: an err_code such as SYSTEMERROR, or "" to drop the connection`)
		return
	}
	if err := checkLose(*in.ErrCode, in.Times); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.LoseNext(*in.ErrCode, in.Times)
	writeJSON(w, http.StatusOK, in)
}

func (s *Server) adminFailBill(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ReturnMsg string `json:"return_msg"`
		ErrorCode string `json:"error_code"`
		Times     int    `json:"times"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if err := checkFailBill(in.ReturnMsg, in.ErrorCode, in.Times); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.FailNextBill(in.ReturnMsg, in.ErrorCode, in.Times)
	writeJSON(w, http.StatusOK, in)
}

// maxSyntheticRows caps POST /fake/bills/synthetic: a billion rows would
// stream for hours.
const maxSyntheticRows = 100_000_000

func (s *Server) adminSyntheticBill(w http.ResponseWriter, r *http.Request) {
	var in struct {
		BillDate string `json:"bill_date"`
		Rows     int    `json:"rows"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if !validBillDate(in.BillDate) {
		writeJSONError(w, http.StatusBadRequest, "bill_date must be a date written yyyyMMdd, such as 20240603")
		return
	}
	if in.Rows < 0 || in.Rows > maxSyntheticRows {
		writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("rows must be between 0 (remove the bill) and %d", maxSyntheticRows))
		return
	}
	date, _ := time.ParseInLocation("20060102", in.BillDate, chinaTime)
	if in.Rows == 0 {
		s.SetBill(date, nil)
	} else {
		s.SetBill(date, s.SyntheticRefundBill(date, in.Rows))
	}
	writeJSON(w, http.StatusOK, in)
}

type balanceJSON struct {
	Balance *int64 `json:"balance"`
}

func (s *Server) adminGetBalance(w http.ResponseWriter, r *http.Request) {
	b := s.Balance()
	writeJSON(w, http.StatusOK, balanceJSON{&b})
}

func (s *Server) adminSetBalance(w http.ResponseWriter, r *http.Request) {
	var in balanceJSON
	if !readJSON(w, r, &in) {
		return
	}
	if in.Balance == nil {
		writeJSONError(w, http.StatusBadRequest, "balance is required")
		return
	}
	if err := s.SetBalance(*in.Balance); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, in)
}

// readJSON decodes one JSON object of at most 64 KiB with only known fields
// into v, or answers 400 and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := readBody(r.Body)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "cannot read the body: "+err.Error())
		return false
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		writeJSONError(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
		return false
	}
	if _, err := d.Token(); err != io.EOF {
		writeJSONError(w, http.StatusBadRequest, "invalid JSON: trailing data after the object")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // the admin types always marshal
		status, body = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The status is sent; a failed write means the client is gone: nothing to do.
	_, _ = w.Write(append(body, '\n'))
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// faultJSON is a Fault as the admin API and the console name it.
type faultJSON struct {
	Domain  Domain `json:"domain"` // "" (either), "api" or "api2"
	Path    string `json:"path"`
	Fault   string `json:"fault"`              // 500, 502, 503, 504, no_certificate, certificate_error, reset or delay
	DelayMS int64  `json:"delay_ms,omitempty"` // with delay
	Times   int    `json:"times"`
}

// parseFault builds the Fault that name (and delayMS, for "delay") names.
func parseFault(name string, delayMS int64) (Fault, error) {
	switch name {
	case "500", "502", "503", "504":
		code, _ := strconv.Atoi(name)
		return StatusFault(code), nil
	case "no_certificate":
		return NoCertificateFault(), nil
	case "certificate_error":
		return CertificateErrorFault(), nil
	case "reset":
		return ResetFault(), nil
	case "delay":
		if delayMS <= 0 || delayMS > time.Hour.Milliseconds() {
			return Fault{}, errors.New("delay_ms: want 1 to 3600000 with fault delay")
		}
		return DelayFault(time.Duration(delayMS) * time.Millisecond), nil
	}
	return Fault{}, fmt.Errorf("fault %q: want 500, 502, 503, 504, no_certificate, certificate_error, reset or delay", name)
}

func (s *Server) adminFault(w http.ResponseWriter, r *http.Request) {
	var in faultJSON
	if !readJSON(w, r, &in) {
		return
	}
	f, err := parseFault(in.Fault, in.DelayMS)
	if err == nil {
		err = checkFaultNext(in.Domain, in.Path, f, in.Times)
	}
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.FaultNext(in.Domain, in.Path, f, in.Times)
	writeJSON(w, http.StatusOK, in)
}

func (s *Server) adminClearFaults(w http.ResponseWriter, r *http.Request) {
	s.ClearFaults()
	writeJSON(w, http.StatusOK, struct{}{})
}

// domainJSON is a domain's state in the admin API.
type domainJSON struct {
	Domain Domain `json:"domain"`
	URL    string `json:"url"`
	Down   bool   `json:"down"`
}

func (s *Server) domainStates() []domainJSON {
	out := make([]domainJSON, 0, 2)
	for _, d := range []Domain{DomainPrimary, DomainBackup} {
		out = append(out, domainJSON{Domain: d, URL: s.domain(d).url, Down: s.Down(d)})
	}
	return out
}

func (s *Server) adminDomains(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.domainStates())
}

func (s *Server) adminSetDomain(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Domain Domain `json:"domain"`
		Down   *bool  `json:"down"`
	}
	if !readJSON(w, r, &in) {
		return
	}
	if err := checkDomain(in.Domain, false); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	if in.Down == nil {
		writeJSONError(w, http.StatusBadRequest, "down is required: true takes the domain down, false brings it up")
		return
	}
	if !*in.Down {
		if err := s.BringUp(in.Domain); err != nil {
			writeJSONError(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, s.domainStates())
		return
	}
	// This request may be served by the domain going down: answer first.
	states := s.domainStates()
	for i := range states {
		if states[i].Domain == in.Domain {
			states[i].Down = true
		}
	}
	s.takeDownSoon(in.Domain)
	writeJSON(w, http.StatusOK, states)
}

func (s *Server) adminRequests(w http.ResponseWriter, r *http.Request) {
	rs := s.Requests()
	if rs == nil {
		rs = []Request{}
	}
	writeJSON(w, http.StatusOK, rs)
}
