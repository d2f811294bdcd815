package webhook

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/policies"
)

// post sends body to the endpoint's HTTP handler as the API server would.
func post(t *testing.T, endpoint string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	h := handlersFor(&fakeView{policy: policies.Default()}, nil, nil).HTTPHandler(endpoint)
	req := httptest.NewRequest(http.MethodPost, "/"+endpoint, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func decodeReview(t *testing.T, w *httptest.ResponseRecorder) admissionv1.AdmissionReview {
	t.Helper()
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &review); err != nil || review.Response == nil {
		t.Fatalf("answer %d %q is no AdmissionReview: %v", w.Code, w.Body.String(), err)
	}
	return review
}

// Nothing the API server sends lacks a request and its uid: such bodies
// are refused, not allowed.
func TestNotAReviewIsRefused(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`{}`, `null`, `[]`, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		`{"request":{}}`, `{"request":null}`, `{"request":{"uid":""}}`, ``} {
		for _, endpoint := range []string{EndpointMutate, EndpointValidate} {
			w := post(t, endpoint, []byte(body))
			if w.Code < 400 || w.Code >= 500 {
				t.Errorf("%s %q: answered %d %q, want a 4xx", endpoint, body, w.Code, w.Body.String())
			}
		}
	}
}

// A review over the size pullguard reads still gets an answer with its
// uid: denied by the validating endpoint, warned by the mutating one.
func TestTooLargeReviewCarriesTheUID(t *testing.T) {
	t.Parallel()
	pod := podObject("ghcr.io/acme/api:v1")
	for i := range 90000 {
		pod.Spec.Containers = append(pod.Spec.Containers, pod.Spec.Containers[0])
		pod.Spec.Containers[i+1].Name = "c" + strings.Repeat("x", 40)
	}
	req := create(podKind, raw(t, pod)).AdmissionRequest
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req,
	}
	review.Request.UID = "uid-big"
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) <= MaxReviewBytes {
		t.Fatalf("test review is %d bytes, not over %d", len(body), MaxReviewBytes)
	}
	tests := []struct {
		endpoint string
		allowed  bool
	}{{EndpointValidate, false}, {EndpointMutate, true}}
	for _, tt := range tests {
		w := post(t, tt.endpoint, body)
		got := decodeReview(t, w)
		if got.Response.UID != "uid-big" || got.Response.Allowed != tt.allowed || got.APIVersion != "admission.k8s.io/v1" {
			t.Errorf("%s: answer %+v (apiVersion %q), want uid-big, allowed=%v", tt.endpoint, got.Response, got.APIVersion, tt.allowed)
		}
		if !tt.allowed && (got.Response.Result == nil || !strings.Contains(got.Response.Result.Message, "cannot judge this object")) {
			t.Errorf("%s: denial %+v does not say why", tt.endpoint, got.Response.Result)
		}
		if tt.allowed && len(got.Response.Warnings) != 1 {
			t.Errorf("%s: warnings %q, want one", tt.endpoint, got.Response.Warnings)
		}
	}
}

// A real review still passes the guard and gets its answer.
func TestReviewGuardPassesReviews(t *testing.T) {
	t.Parallel()
	req := create(podKind, raw(t, podObject("ghcr.io/acme/api"))).AdmissionRequest
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  &req,
	}
	body, err := json.Marshal(review)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeReview(t, post(t, EndpointValidate, body))
	if got.Response.UID != "uid-1" || got.Response.Allowed {
		t.Errorf("answer %+v, want uid-1 denied (implicit latest)", got.Response)
	}
}

// Any body gets a clean answer: an AdmissionReview carrying the uid when one
// can be read, or an HTTP error; never a panic, never an answer without it.
func FuzzReview(f *testing.F) {
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"version":"v1","kind":"Pod"},"object":{"spec":{"containers":[{"name":"a","image":"x:1"}]}}}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"request":{"uid":"u","kind":{"group":"apps","version":"v1","kind":"Deployment"},"object":{"spec":{"template":{"spec":{"containers":[{"image":"Foo/bar"}]}}}}}}`))
	f.Add([]byte(`{"request":{"uid":"u","operation":"UPDATE","kind":{"version":"v1","kind":"Pod"},"object":null,"oldObject":{}}}`))
	h := handlersFor(&fakeView{policy: policies.Default()}, nil, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, endpoint := range []string{EndpointMutate, EndpointValidate} {
			req := httptest.NewRequest(http.MethodPost, "/"+endpoint, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.HTTPHandler(endpoint).ServeHTTP(w, req)
			if w.Code != http.StatusOK {
				continue
			}
			var in struct {
				Request *struct {
					UID string `json:"uid"`
				} `json:"request"`
			}
			var out admissionv1.AdmissionReview
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || out.Response == nil {
				t.Fatalf("%s: 200 without an AdmissionReview: %q", endpoint, w.Body.String())
			}
			if json.Unmarshal(body, &in) == nil && in.Request != nil && string(out.Response.UID) != in.Request.UID {
				t.Fatalf("%s: answer uid %q, request uid %q", endpoint, out.Response.UID, in.Request.UID)
			}
		}
	})
}
