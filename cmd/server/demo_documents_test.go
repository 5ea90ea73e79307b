package main

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// laptopsRange is a locator in the Laptops sheet of the IT equipment catalogue: its rows
// (A1:D14) or a cell of them.
var laptopsRange = regexp.MustCompile(`^Laptops!(A1:D14|B6)( – Laptops!(A1:D14|B6))?$`)

// demoCitation is a citation with where it points in its document.
type demoCitation struct {
	Snippet  string
	Document struct{ URI string }
	Pages    *struct {
		Start, End int
		Unit       string
	}
	Locator *string
	OCR     bool
}

type demoCitedAnswer struct {
	Answer    string
	Refused   bool
	Citations []demoCitation
}

// askCited asks a question and returns the answer with its citations' locators.
func (r *runScript) askCited(token, origin, question string) demoCitedAnswer {
	r.t.Helper()
	status, body := r.answer(token, origin, question)
	// The server limits the requests of an address (a few a second): wait for it.
	for try := 0; status == http.StatusTooManyRequests && try < 30; try++ {
		time.Sleep(time.Second)
		status, body = r.answer(token, origin, question)
	}
	var a demoCitedAnswer
	if status != http.StatusOK || json.Unmarshal(body, &a) != nil {
		r.t.Fatalf("POST /v1/answer %q from %s: %d %s", question, origin, status, body)
	}
	return a
}

// citing returns the answer's first citation of a document whose URI ends with file.
func (a demoCitedAnswer) citing(file string) *demoCitation {
	for i, c := range a.Citations {
		if strings.HasSuffix(c.Document.URI, file) {
			return &a.Citations[i]
		}
	}
	return nil
}

// mentions reports whether the answer or a citation has any of facts.
func (a demoCitedAnswer) mentions(facts ...string) bool {
	text := a.Answer
	for _, c := range a.Citations {
		text += "\n" + c.Snippet + "\n" + c.Document.URI
	}
	for _, f := range facts {
		if strings.Contains(text, f) {
			return true
		}
	}
	return false
}

// checkDemoDocuments asks, as the demo's users of a running scripts/run.sh, a question
// answered by each of the demo's Word document, slide deck, spreadsheet and scanned page
// (testdata/DEMO.md: R1, FR1, IT1, PG1), checks that the answer cites the file with the
// right locator (the slide, the sheet and cell range, the page recognised by OCR), and that
// a user the file's tags do not name is refused it. The scan needs OCR: scripts/run.sh
// installs it when it can (scripts/ocr.sh); without it the scan's check is skipped with
// the reason.
func checkDemoDocuments(t *testing.T, r *runScript, public, erin, harper string) {
	t.Helper()
	origin := r.origins()[0]
	type who struct {
		name, token string
	}
	pub, eng, hr := who{"public", public}, who{"Erin", erin}, who{"Harper", harper}
	for _, c := range []struct {
		question, file string
		facts          []string // in the answer or a citation
		sees           []who
		refused        []who
		check          func(c *demoCitation) bool
	}{
		{"What is the relocation allowance for a move between two US offices?", "hr/relocation-policy-2026.docx",
			[]string{"$12,000", "relocation-policy-2026"}, []who{hr}, []who{eng, pub},
			func(c *demoCitation) bool { return c.Pages == nil && !c.OCR }},
		{"When does the Flock 4.3 beta start?", "engineering/flock-4.3-roadmap.pptx",
			[]string{"4 May 2026", "flock-4.3-roadmap"}, []who{eng}, []who{hr, pub},
			func(c *demoCitation) bool {
				// The passage retrieval cites may join the slide's chunk to its neighbours'.
				return c.Pages != nil && c.Pages.Start <= 3 && c.Pages.End >= 3 && c.Pages.Unit == "slide" && !c.OCR
			}},
		{"Which laptop does a field technician get?", "handbook/it-equipment-catalogue-2026.xlsx",
			[]string{"Toughbook 40", "it-equipment-catalogue"}, []who{pub, eng, hr}, nil,
			// The sheet's rows (A1:D14) or the note on the field technician's laptop (B6).
			func(c *demoCitation) bool {
				return c.Locator != nil && laptopsRange.MatchString(*c.Locator) && c.Pages == nil && !c.OCR
			}},
		{"When is the next safety inspection of the Austin Proving Ground due?", "engineering/proving-ground-safety-inspection-2026.pdf",
			[]string{"12 January 2027", "proving-ground-safety-inspection"}, []who{eng}, []who{hr, pub},
			func(c *demoCitation) bool {
				return c.Pages != nil && c.Pages.Start == 1 && c.Pages.End == 1 && c.Pages.Unit == "page" && c.OCR
			}},
	} {
		for _, u := range c.sees {
			a := r.askCited(u.token, origin, c.question)
			cited := a.citing(c.file)
			if cited == nil && strings.HasSuffix(c.file, ".pdf") && !ocrInstalled() {
				t.Logf("%s, %q: OCR is not installed: the scan is unread", u.name, c.question)
				continue
			}
			if a.Refused || cited == nil || !a.mentions(c.facts[0]) {
				t.Errorf("%s, %q: %+v, want an answer citing %s", u.name, c.question, a, c.file)
				continue
			}
			if !c.check(cited) {
				t.Errorf("%s, %q: citation of %s: pages %+v, locator %v, ocr %v", u.name, c.question, c.file, cited.Pages, strOrNil(cited.Locator), cited.OCR)
			}
		}
		// Refused the file: neither cited nor quoted (another document the user reads may
		// answer something: the handbook mentions the Proving Ground).
		for _, u := range c.refused {
			if a := r.askCited(u.token, origin, c.question); a.citing(c.file) != nil || a.mentions(c.facts...) {
				t.Errorf("%s, %q: %+v, want nothing of %s", u.name, c.question, a, c.file)
			}
		}
	}
}

func strOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

// ocrInstalled reports whether the OCR tools are on PATH (scripts/ocr.sh installs them).
func ocrInstalled() bool {
	_, err1 := exec.LookPath("tesseract")
	_, err2 := exec.LookPath("pdftoppm")
	return err1 == nil && err2 == nil
}
