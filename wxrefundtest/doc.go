// Package wxrefundtest is a fake WeChat Pay for tests: a stateful HTTPS
// server that speaks the API v2 refund protocol as WeChat Pay does (apply
// refund, refund query, the refund bill and refund notifications), in the
// spirit of net/http/httptest.
//
// Start one per test, add the orders your code refunds, and point a
// wxrefund.Client at it, with failover to its second domain:
//
//	fake, err := wxrefundtest.NewServer()
//	if err != nil {
//		t.Fatal(err)
//	}
//	t.Cleanup(fake.Close)
//	if err := fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 5000}); err != nil {
//		t.Fatal(err)
//	}
//	appID, mchID, apiKey := fake.Credentials()
//	c, err := wxrefund.NewClient(appID, mchID, apiKey,
//		append(fake.ClientOptions(), wxrefund.WithFailover(fake.BackupURL()))...)
//
// Then play WeChat Pay's part:
//
//   - Complete finishes a refund and delivers its notification to the
//     refund's notify URL on WeChat Pay's schedule (WithNotifySchedule
//     compresses it); WaitNotified waits until your handler acknowledged it,
//     WaitStatus until a refund reaches a status.
//   - FailNext answers a signed err_code such as SYSTEMERROR; LoseNext
//     applies a refund and loses its answer; FaultNext plays what happens
//     below the API on one domain (a 502 page, a reset, a slow answer);
//     TakeDown takes a domain away.
//   - SetBill and SyntheticRefundBill serve refund bills of any size;
//     FailNextBill fails downloads.
//   - WithPartner makes the fake a service provider with sub-merchants.
//
// Requests, Deliveries and Refunds show what happened. Everything is also
// reachable over a JSON admin API and a web console (see Server.Handler and
// Server.ConsoleURL); examples/fakeserver runs the fake as a program for
// code in other languages. The Server type lists the answers the fake gives.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4 (apply
// refund), chapter=9_5 (refund query), chapter=9_16 (notification) and
// chapter=9_6 (statement download), and the same chapters of
// https://pay.weixin.qq.com/wiki/doc/api/jsapi_sl.php for service providers.
package wxrefundtest
