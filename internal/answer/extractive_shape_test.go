package answer

import (
	"slices"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/retrieve"
)

// The shape of an extractive answer (issue 12, item 4): from the passage that answers, in
// its order; a how-to's steps as a numbered list, the table row or list item that holds the
// value, a definition's first sentence; never the question or a heading; no sentence that
// adds nothing the question asked for. Every answer validates: each sentence cited and
// supported.

func TestExtractiveShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		question string
		sources  []retrieve.Item
		want     string // the whole answer
	}{
		{
			name:     "a how-to's steps as a numbered list",
			question: "How do I install the toolchain on Linux?",
			sources: []retrieve.Item{
				{ChunkID: 1, Title: "Download and install", URI: "doc/install.md", Text: "Installing Go\n\n" +
					"To install the toolchain on Linux, follow these steps:\n\n" +
					"1. Remove any previous installation by deleting the /usr/local/go folder.\n\n" +
					"2. Extract the archive you downloaded into /usr/local. Use sudo if the folder is not yours.\n\n" +
					"3. Add /usr/local/go/bin to the PATH environment variable.\n\n" +
					"Other platforms have installers of their own."},
				{ChunkID: 2, Title: "Managing installations", URI: "doc/manage.md",
					Text: "You can install the toolchain on Linux more than once, in different folders."},
			},
			want: "To install the toolchain on Linux, follow these steps: [1]\n" +
				"1. Remove any previous installation by deleting the /usr/local/go folder. [1]\n" +
				"2. Extract the archive you downloaded into /usr/local. [1] Use sudo if the folder is not yours. [1]\n" +
				"3. Add /usr/local/go/bin to the PATH environment variable. [1]",
		},
		{
			name:     "a numbered list that mentions the question in passing is not its steps",
			question: "How do I fail over the production database?",
			sources: []retrieve.Item{
				{ChunkID: 1, Title: "Runbook", URI: "runbooks/failover.md", Text: "This runbook fails over the production database from pg-1 to its standby pg-2.\n\n" +
					"Before you start\n\n" +
					"1. Declare an incident and name an incident commander.\n\n" +
					"2. Write in the incident channel which production region you fail over."},
			},
			// Prose: the list's item is quoted as the sentence it is, not as step 2 of 2.
			want: "This runbook fails over the production database from pg-1 to its standby pg-2. [1] " +
				"Write in the incident channel which production region you fail over. [1]",
		},
		{
			name:     "the table row that holds the value, with its column names",
			question: "When was Go 1.21 released?",
			sources: []retrieve.Item{
				{ChunkID: 1, Title: "Release history", URI: "doc/devel/release.md", Text: "Each major Go release is supported until there are two newer major releases.\n\n" +
					"Version | Released | Support ended\n" +
					"Go 1.20 | February 2023 | February 2024\n" +
					"Go 1.21 | August 2023 | August 2024\n" +
					"Go 1.22 | February 2024 | February 2025"},
				{ChunkID: 2, Title: "Go 1.21 release notes", URI: "doc/go1.21.md",
					Text: "The latest Go release, version 1.21, arrives six months after Go 1.20."},
			},
			want: "Version: Go 1.21; Released: August 2023; Support ended: August 2024. [1]",
		},
		{
			name:     "the list item that holds the value",
			question: "Which editor plugin gives Emacs support for Go?",
			sources: []retrieve.Item{
				{ChunkID: 1, Title: "Editor plugins and IDEs", URI: "doc/editors.md", Text: "Popular options:\n\n" +
					"- Visual Studio Code: the Go extension provides support for Go.\n" +
					"- GoLand is an IDE by JetBrains, made for Go.\n" +
					"- Emacs: the go-mode plugin gives Emacs support for Go, with gopls.\n"},
				{ChunkID: 2, Title: "Emacs", URI: "wiki/emacs.md",
					Text: "Emacs users can pick an editor plugin for Go support."},
			},
			want: "Emacs: the go-mode plugin gives Emacs support for Go, with gopls. [1]",
		},
		{
			name:     "the value shown on the line below its lead-in",
			question: "What is the default value of GOPROXY?",
			sources: []retrieve.Item{
				{ChunkID: 1, Title: "Go Modules Reference", URI: "ref/mod.md", Text: "GOPROXY\n\n" +
					"The default value of GOPROXY is:\n\n" +
					"https://proxy.golang.org,direct\n\n" +
					"With that value, the go command downloads modules from the Go module mirror first."},
			},
			want: "The default value of GOPROXY is: https://proxy.golang.org,direct. [1]",
		},
		{
			name:     "a definition's first sentence comes first",
			question: "What is profile-guided optimization in the Go compiler?",
			sources: []retrieve.Item{
				{ChunkID: 1, Title: "PGO", URI: "doc/pgo.md", Text: "Overview\n\n" +
					"Profile-guided optimization is a compiler technique that feeds a profile of representative runs back into the build. " +
					"Since Go 1.21, the Go compiler applies profile-guided optimization when a default.pgo profile is present."},
			},
			want: "Profile-guided optimization is a compiler technique that feeds a profile of representative runs back into the build. [1] " +
				"Since Go 1.21, the Go compiler applies profile-guided optimization when a default.pgo profile is present. [1]",
		},
		{
			name:     "never the question or a heading",
			question: "Does Go have a runtime?",
			sources: []retrieve.Item{
				{ChunkID: 1, Title: "Frequently Asked Questions (FAQ)", URI: "doc/faq.md", HeadingPath: []string{"Implementation"}, Text: "Implementation\n\n" +
					"Does Go have a runtime?\n\n" +
					"Go has an extensive runtime library, often just called the runtime, that is part of every Go program.\n\n" +
					"What compiler technology is used to build the compilers?\n\n" +
					"There are several production compilers for Go."},
			},
			want: "Go has an extensive runtime library, often just called the runtime, that is part of every Go program. [1]",
		},
		{
			name:     "no sentence stitched from another passage, no filler",
			question: "How long is a passport valid for adults?",
			sources: []retrieve.Item{
				{ChunkID: 1, Title: "Passport validity", URI: "passport/validity", Text: "An adult passport is valid for ten years. " +
					"Passports are issued by the passport office."},
				{ChunkID: 2, Title: "Children's passports", URI: "passport/children",
					Text: "A passport for children is valid for five years, unlike a passport for adults."},
			},
			want: "An adult passport is valid for ten years. [1]",
		},
		{
			name:     "a passage that opens under no heading: its opening sentence says what it is about",
			question: "Which cells produce insulin?",
			sources:  []retrieve.Item{{ChunkID: 1, Title: "Insulin", URI: "wiki/insulin", Text: "Insulin is a peptide hormone that regulates the level of glucose in the blood. Its discovery in 1921 earned a Nobel Prize. It is produced by the beta cells of the pancreatic islets."}},
			want: "Insulin is a peptide hormone that regulates the level of glucose in the blood. [1] " +
				"It is produced by the beta cells of the pancreatic islets. [1]",
		},
		{
			name:     "a passage under a heading: no opening sentence",
			question: "Which cells produce insulin?",
			sources: []retrieve.Item{{ChunkID: 1, Title: "Insulin", URI: "wiki/insulin", HeadingPath: []string{"Biology"},
				Text: "Insulin is a peptide hormone that regulates the level of glucose in the blood. Its discovery in 1921 earned a Nobel Prize. It is produced by the beta cells of the pancreatic islets."}},
			want: "It is produced by the beta cells of the pancreatic islets. [1]",
		},
		{
			name:     "an opening sentence without the question's words is not quoted",
			question: "Which cells produce insulin?",
			sources: []retrieve.Item{{ChunkID: 1, Title: "Insulin", URI: "wiki/insulin",
				Text: "The pancreas lies behind the stomach. Its discovery in 1921 earned a Nobel Prize. It is produced by the beta cells of the pancreatic islets."}},
			want: "It is produced by the beta cells of the pancreatic islets. [1]",
		},
	}
	ext := newExtractive(t, ExtractiveConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ext.Compose(Prompt{Question: tt.question, Sources: tt.sources})
			if got != tt.want {
				t.Errorf("answer:\n%s\nwant:\n%s", got, tt.want)
			}
			checkQuotes(t, got, tt.question, tt.sources)
		})
	}
}

// checkQuotes checks what every extractive answer must be: it validates as grounded with no
// citation dropped, every sentence cites a source, and no sentence is the question.
func checkQuotes(t *testing.T, answer, question string, sources []retrieve.Item) {
	t.Helper()
	v := Validate(answer, sources, ValidateConfig{})
	if !v.Grounded || len(v.Dropped) > 0 || v.Answer != answer {
		t.Errorf("the answer %q does not validate: %+v", answer, v)
	}
	for _, s := range v.Sentences {
		if len(s.Citations) == 0 {
			t.Errorf("sentence %q has no citation", s.Text)
		}
		if strings.EqualFold(strings.TrimSpace(s.Text), strings.TrimSpace(question)) || strings.HasSuffix(s.Text, "?") {
			t.Errorf("sentence %q repeats a question", s.Text)
		}
	}
}

// A question whose words a heading repeats, over passages of every shape: whatever the
// passage, the answer never quotes a question or a heading line.
func TestExtractiveNeverEchoes(t *testing.T) {
	t.Parallel()
	question := "What is the history of the project?"
	texts := []string{
		"What is the history of the project?\n\nThe project started on a white board in September 2007, as a plan for a new language.",
		"History of the project\n\nThe project became public and open source in November 2009.",
		"## What is the history of the project?\nWork on the project started in 2007 and the history of its design is public.",
		"What is the history of the project? Nobody wrote the history of the project down before 2009.",
		"- What is the history of the project?\n- The project history is on the blog.",
		"Question | Answer\nWhat is the history of the project? | The history of the project is told on the blog.",
	}
	ext := newExtractive(t, ExtractiveConfig{})
	for _, text := range texts {
		sources := []retrieve.Item{{ChunkID: 1, Title: "FAQ", URI: "faq.md", Text: text}}
		got := ext.Compose(Prompt{Question: question, Sources: sources})
		if strings.Contains(got, "?") || strings.Contains(got, "History of the project") {
			t.Errorf("over %q: the answer %q quotes the question or a heading", text, got)
		}
		if got != NoEvidenceAnswer {
			checkQuotes(t, got, question, sources)
		}
	}
}

func TestPassageUnits(t *testing.T) {
	t.Parallel()
	text := "Title line\n\n" +
		"A first sentence here. A second one follows.\n\n" +
		"To begin:\n\n" +
		"1. Open the file.\n   It is in the home folder.\n\n" +
		"2. Edit it.\n" +
		"3. Save it.\n\n" +
		"```\ncode | not a table\nx := 1\n```\n\n" +
		"Name | Value\n--- | ---\nlimit | 10\n\n" +
		"- a bullet item\n\n" +
		"# Heading\nText under it."
	type got struct {
		text    string
		kind    unitKind
		ordered bool
	}
	var units []got
	us := passageUnits(text)
	for _, u := range us {
		units = append(units, got{text[u.start:u.end], u.kind, u.ordered})
	}
	want := []got{
		{"Title line", unitHeading, false},
		{"A first sentence here.", unitProse, false},
		{"A second one follows.", unitProse, false},
		{"To begin:", unitProse, false},
		{"Open the file.", unitItem, true},
		{"It is in the home folder.", unitItem, true},
		{"Edit it.", unitItem, true},
		{"Save it.", unitItem, true},
		{"Name | Value", unitHeader, false},
		{"limit | 10", unitRow, false},
		{"a bullet item", unitItem, false},
		{"Heading", unitHeading, false},
		{"Text under it.", unitProse, false},
	}
	if !slices.Equal(units, want) {
		t.Errorf("units:\n%+v\nwant:\n%+v", units, want)
	}
	// The three numbered items are one list, the sentences of the first one item; the bullet
	// is another list.
	if us[4].block != us[7].block || us[10].block == us[7].block || us[4].item != us[5].item || us[5].item == us[6].item {
		t.Errorf("lists: blocks %d %d %d, items %d %d %d", us[4].block, us[7].block, us[10].block, us[4].item, us[5].item, us[6].item)
	}
	if us[9].header != 8 || us[12].heading != 11 || us[1].heading != 0 {
		t.Errorf("header %d, headings %d %d", us[9].header, us[12].heading, us[1].heading)
	}
}

// FuzzExtractive checks the extractive answer on any passage and question: the units are in
// bounds and in order, and the answer is the refusal or validates as grounded, every
// sentence cited, with no question quoted.
func FuzzExtractive(f *testing.F) {
	for _, s := range []string{
		"Title\n\nA sentence here. Another one.\n\n1. Step one.\n2. Step two.\n\nA | B\n1 | 2",
		"What is it?\n\n- * inline * bullets. * here.\n```\nx | y\n```\n# H\n| a | b |\n|---|---|\n| c | d |",
		"The value is:\n\nx=1\n\n   \n\t1) one\n   continued? yes.\n\n#nohash\nÜnïcödé… text. «quoted.» [1]",
	} {
		f.Add(s, "How do I do the step with the value?")
	}
	f.Fuzz(func(t *testing.T, text, question string) {
		last := 0
		for _, u := range passageUnits(text) {
			if u.start < last || u.end <= u.start || u.end > len(text) {
				t.Fatalf("unit [%d, %d) after %d in %d bytes", u.start, u.end, last, len(text))
			}
			last = u.end
		}
		if strings.TrimSpace(question) == "" {
			return
		}
		sources := []retrieve.Item{{ChunkID: 1, Title: "T", URI: "a", Text: text}, {ChunkID: 2, Title: "U", URI: "b", Text: question + "\n\n" + text}}
		got := (&Extractive{cfg: defaultExtractive()}).Compose(Prompt{Question: question, Sources: sources})
		if got == NoEvidenceAnswer {
			return
		}
		v := Validate(got, sources, ValidateConfig{})
		if !v.Grounded || len(v.Dropped) > 0 {
			t.Fatalf("the answer %q does not validate: %+v", got, v)
		}
		for _, s := range v.Sentences {
			if len(s.Citations) == 0 {
				t.Fatalf("sentence %q of %q has no citation", s.Text, got)
			}
		}
	})
}

func defaultExtractive() ExtractiveConfig {
	var c ExtractiveConfig
	c.defaults()
	return c
}
