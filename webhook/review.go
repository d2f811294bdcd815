package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// MaxReviewBytes is the largest AdmissionReview the endpoints check:
// controller-runtime's own limit on a webhook request body. The API server
// sends bigger ones (a pod of tens of thousands of containers, defaulted,
// is over 7 MiB).
const MaxReviewBytes = 7 << 20

// reviewGuard sits in front of controller-runtime's admission.Webhook and
// answers what it would answer wrongly: a review over MaxReviewBytes gets an
// answer that carries the request's uid (without it the API server rejects
// the answer, and under failurePolicy Ignore admits the object unchecked),
// and a body that is no AdmissionReview at all ({} or null, no request, no
// uid), which controller-runtime passes on as an empty request to allow, is
// a 400, as is a body that is not JSON. Nothing the API server sends looks
// like that.
type reviewGuard struct {
	next http.Handler
	// deny says whether an object too large to check is denied (the
	// validating endpoint) or allowed with a warning (the mutating one,
	// which never denies).
	deny bool
}

func (g reviewGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody {
		http.Error(w, "request body is empty: want an AdmissionReview", http.StatusBadRequest)
		return
	}
	defer r.Body.Close()
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxReviewBytes+1))
	if err != nil {
		http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(body) > MaxReviewBytes {
		g.tooLarge(w, io.MultiReader(bytes.NewReader(body), r.Body))
		return
	}
	// The same token reader as for an oversized review: it stops at the
	// uid, so a real review is not decoded twice before controller-runtime
	// decodes it.
	uid, _, err := streamUID(bytes.NewReader(body))
	if err != nil {
		http.Error(w, "not an AdmissionReview: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	answer := httptest.NewRecorder()
	g.next.ServeHTTP(answer, r)
	withUID(w, answer, uid)
}

// withUID writes the answer controller-runtime gave, with uid filled in
// when it left it out: it answers a review it cannot decode (a field of the
// wrong type) with an error that carries no uid, which the API server
// rejects, and under failurePolicy Ignore then admits the object unchecked.
func withUID(w http.ResponseWriter, answer *httptest.ResponseRecorder, uid types.UID) {
	body := answer.Body.Bytes()
	var review admissionv1.AdmissionReview
	if json.Unmarshal(body, &review) == nil && review.Response != nil && review.Response.UID == "" {
		review.Response.UID = uid
		if b, err := json.Marshal(review); err == nil {
			body = append(b, '\n')
		}
	}
	for k, v := range answer.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(answer.Code)
	_, _ = w.Write(body)
}

// tooLarge answers a review pullguard will not read in full, with the uid
// read from its start as a stream (memory stays bounded).
func (g reviewGuard) tooLarge(w http.ResponseWriter, body io.Reader) {
	uid, apiVersion, err := streamUID(body)
	if err != nil {
		http.Error(w, fmt.Sprintf("AdmissionReview over %d bytes, and no request.uid in it: %v", MaxReviewBytes, err), http.StatusRequestEntityTooLarge)
		return
	}
	msg := fmt.Sprintf("pullguard cannot judge this object: its AdmissionReview is over %d MiB, the most it reads; "+
		"split the workload into smaller ones, or exempt the namespace from pullguard", MaxReviewBytes>>20)
	resp := &admissionv1.AdmissionResponse{UID: uid, Allowed: !g.deny}
	if g.deny {
		resp.Result = &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusRequestEntityTooLarge,
			Reason: metav1.StatusReasonRequestEntityTooLarge, Message: msg}
	} else {
		resp.Warnings = []string{"pullguard: object too large to check (AdmissionReview over 7 MiB)"}
	}
	if apiVersion == "" {
		apiVersion = admissionv1.SchemeGroupVersion.String()
	}
	review := admissionv1.AdmissionReview{TypeMeta: metav1.TypeMeta{APIVersion: apiVersion, Kind: "AdmissionReview"}, Response: resp}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(review)
}

// streamUID reads an AdmissionReview token by token until it has
// request.uid, skipping every other value without keeping it.
func streamUID(r io.Reader) (types.UID, string, error) {
	dec := json.NewDecoder(r)
	apiVersion := ""
	if err := expectDelim(dec, '{'); err != nil {
		return "", "", err
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return "", "", err
		}
		switch key {
		case "apiVersion":
			var v string
			if err := dec.Decode(&v); err != nil {
				return "", "", err
			}
			if v == admissionv1.SchemeGroupVersion.String() || v == "admission.k8s.io/v1beta1" {
				apiVersion = v
			}
		case "request":
			if err := expectDelim(dec, '{'); err != nil {
				return "", "", err
			}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return "", "", err
				}
				if k == "uid" {
					var uid types.UID
					if err := dec.Decode(&uid); err != nil || uid == "" {
						return "", "", errors.New("request.uid is not a string")
					}
					return uid, apiVersion, nil
				}
				if err := skipValue(dec); err != nil {
					return "", "", err
				}
			}
			return "", "", errors.New("request has no uid")
		default:
			if err := skipValue(dec); err != nil {
				return "", "", err
			}
		}
	}
	return "", "", errors.New("no request")
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t != d {
		return fmt.Errorf("want %q, found %v", d, t)
	}
	return nil
}

// skipValue consumes one value, however deep, token by token.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}
