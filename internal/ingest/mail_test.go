package ingest_test

import (
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// message builds an e-mail with a text body and attachments (file name -> content).
func message(subject, body string, attachments ...[2]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Ada <ada@example.com>\r\nTo: legal@example.com\r\nSubject: %s\r\nDate: Mon, 2 Jun 2025 10:00:00 +0200\r\nMIME-Version: 1.0\r\n", subject)
	b.WriteString("Content-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n--BOUNDARY\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(body + "\r\n")
	for _, a := range attachments {
		fmt.Fprintf(&b, "--BOUNDARY\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"%s\"\r\nContent-Transfer-Encoding: base64\r\n\r\n%s\r\n",
			a[0], base64.StdEncoding.EncodeToString([]byte(a[1])))
	}
	b.WriteString("--BOUNDARY--\r\n")
	return b.String()
}

// TestAttachmentsInheritTheirMessageTags: an e-mail's attachments are documents of their
// own under the message's URI, with exactly the message's tags, whatever they declare
// themselves (a Markdown attachment saying acl: [public], an HTML one saying so in its
// JSON front matter, with a canonical link): a sender cannot make what they attach visible to more people than the message.
// Re-runs leave them unchanged; a change of the folder's tags re-tags them all; an
// attachment removed from the message is hidden, then pruned.
func TestAttachmentsInheritTheirMessageTags(t *testing.T) {
	t.Parallel()
	eml := message("Merger", "The merger closes in June.",
		[2]string{"notes.md", "---\nacl: [public]\nurl: https://evil.example/x\n---\n# Notes\n\nThe price is forty million.\n"},
		[2]string{"page.html", `<!--{"Title": "Minutes", "acl": ["public"]}-->` + "\n" + `<html><head><link rel="canonical" href="https://evil.example/p"></head><body><p>Board minutes agreed.</p></body></html>`},
		[2]string{"terms.csv", "Term,Value\nPrice,40M\n"},
		[2]string{"logo.png", "\x89PNG\r\n\x1a\nbinary"})
	h := newHarness(t, map[string]string{
		"mail/.docent-acl": "group:legal\n",
		"mail/x.eml":       eml,
		"pub/.docent-acl":  "public\n",
		"pub/readme.md":    "# Readme\n\nNothing here.\n",
	})
	_, outcomes := h.mustRun()
	want := map[string]string{
		"mail/x.eml": "added", "mail/x.eml#attachment/1/notes.md": "added", "mail/x.eml#attachment/2/page.html": "added",
		"mail/x.eml#attachment/3/terms.csv": "added", "pub/readme.md": "added",
	}
	if diff := cmp.Diff(want, outcomes); diff != "" {
		t.Fatalf("outcomes (-want +got):\n%s", diff)
	}
	wantTags := map[string]string{
		"mail/x.eml": "group:legal", "mail/x.eml#attachment/1/notes.md": "group:legal", "mail/x.eml#attachment/2/page.html": "group:legal",
		"mail/x.eml#attachment/3/terms.csv": "group:legal", "pub/readme.md": "public",
	}
	if diff := cmp.Diff(wantTags, h.tags()); diff != "" {
		t.Errorf("tags (-want +got):\n%s", diff)
	}
	for _, s := range []string{"forty million", "Board minutes", "Price | 40M", "merger closes"} {
		for uri, tags := range h.visible(s) {
			if tags != "group:legal" {
				t.Errorf("%q is visible to %s in %s", s, tags, uri)
			}
		}
		if len(h.visible(s)) == 0 {
			t.Errorf("%q was not indexed", s)
		}
	}
	for _, uri := range []string{"mail/x.eml#attachment/1/notes.md", "mail/x.eml#attachment/2/page.html"} {
		if src := h.aclSource(uri); src == "document" {
			t.Errorf("%s: tags from the attachment itself", uri)
		}
	}
	var urls int
	if err := h.db.Pool.QueryRow(t.Context(), `SELECT count(*) FROM documents WHERE url LIKE '%evil%'`).Scan(&urls); err != nil {
		t.Fatal(err)
	}
	if urls != 0 {
		t.Errorf("%d documents took the URL an attachment declares", urls)
	}

	_, outcomes = h.mustRun()
	for uri, o := range outcomes {
		if o != "unchanged" {
			t.Errorf("re-run: %s %s, want unchanged", uri, o)
		}
	}

	write(t, filepath.Join(h.dir, "mail/.docent-acl"), "group:board\n")
	_, outcomes = h.mustRun()
	for uri, tags := range h.tags() {
		if strings.HasPrefix(uri, "mail/") && tags != "group:board" {
			t.Errorf("after re-tagging the folder: %s has %q (%s)", uri, tags, outcomes[uri])
		}
	}

	write(t, filepath.Join(h.dir, "mail/x.eml"), message("Merger", "The merger closes in June.",
		[2]string{"terms.csv", "Term,Value\nPrice,40M\n"}))
	_, outcomes = h.mustRun()
	if _, ok := h.tags()["mail/x.eml#attachment/2/page.html"]; ok {
		t.Errorf("an attachment gone from its message is still stored (%v)", outcomes)
	}
	if o := outcomes["mail/x.eml#attachment/1/terms.csv"]; o != "added" {
		t.Errorf("renumbered attachment: %q, want added", o)
	}
}

// TestMailboxMessagesAreDocuments: each message of an mbox is a document, the mailbox
// itself a container; a message's attachment is a document under it.
func TestMailboxMessagesAreDocuments(t *testing.T) {
	t.Parallel()
	mbox := "From ada@example.com Mon Jun  2 10:00:00 2025\n" + strings.ReplaceAll(message("First", "Alpha budget approved.\n>From the desk of Ada."), "\r\n", "\n") +
		"\nFrom bob@example.com Tue Jun  3 10:00:00 2025\n" + strings.ReplaceAll(message("Second", "Beta launch delayed.", [2]string{"plan.txt", "Gamma plan attached."}), "\r\n", "\n")
	h := newHarness(t, map[string]string{"m/.docent-acl": "group:ops\n", "m/box.mbox": mbox})
	_, outcomes := h.mustRun()
	want := map[string]string{"m/box.mbox": "skipped:container", "m/box.mbox#message/1": "added", "m/box.mbox#message/2": "added",
		"m/box.mbox#message/2/attachment/1/plan.txt": "added"}
	if diff := cmp.Diff(want, outcomes); diff != "" {
		t.Fatalf("outcomes (-want +got):\n%s", diff)
	}
	for _, s := range []string{"Alpha budget", "Beta launch", "Gamma plan", "From the desk"} {
		v := h.visible(s)
		if len(v) != 1 {
			t.Errorf("%q visible in %v, want one document", s, v)
		}
		for uri, tags := range v {
			if tags != "group:ops" {
				t.Errorf("%s: tags %q", uri, tags)
			}
		}
	}
}
