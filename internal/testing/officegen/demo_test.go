package officegen_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docent-rag/docent/internal/testing/officegen"
)

// The demo corpus's office files (testdata/demo/**/*.docx, *.pptx, *.xlsx) are generated
// from the values below, so that they can be reviewed as text and regenerated:
//
//	go test ./internal/testing/officegen -run TestDemoOfficeFiles           # check them
//	go test ./internal/testing/officegen -run TestDemoOfficeFiles -update   # rewrite them
//
// testdata/DEMO.md lists the facts the tests rely on (R1, FR1, IT1); keep them in step.

const demoDir = "../../../testdata/demo"

var update = flag.Bool("update", false, "rewrite the demo's office files instead of comparing with them")

const author = "Northwind Robotics"

// demoFiles are the demo's office files by their path under testdata/demo.
var demoFiles = map[string]func() ([]byte, error){
	"hr/relocation-policy-2026.docx": func() ([]byte, error) {
		return officegen.DOCX("Relocation Policy 2026", author, []officegen.Block{
			{Style: "Title", Text: "Relocation Policy 2026"},
			{Text: "Policy HR-021. Owner: Daniel Ferreira, Chief People Officer. Effective 1 March 2026."},
			{Style: "Heading1", Text: "Who is eligible"},
			{Text: "Employees who move between Northwind offices at the company's request, and new hires who relocate to Pittsburgh, Rotterdam or Austin for their role."},
			{Style: "Heading1", Text: "Allowances"},
			{Text: "The relocation allowance for a move between two US offices is $12,000, paid with the first salary after the move."},
			{Rows: [][]string{
				{"Move", "Relocation allowance", "Temporary housing"},
				{"Between two US offices", "$12,000", "30 days"},
				{"Between the US and the Netherlands", "$18,000", "60 days"},
				{"New hire moving within the US", "$7,500", "30 days"},
				{"New hire moving to Rotterdam", "€9,000", "45 days"},
			}},
			{Style: "Heading1", Text: "How to apply"},
			{Style: "ListBullet", Text: "Your manager approves the move in Peoplebase."},
			{Style: "ListBullet", Text: "Book the movers through Atlas Relocation (+1 412 555 0166) at least 4 weeks before the move."},
			{Style: "ListBullet", Text: "Submit the receipts for temporary housing in Ledgerly within 30 days."},
			{Style: "Heading1", Text: "Repayment"},
			{Text: "An employee who leaves Northwind within 12 months of the move repays the allowance pro rata."},
		})
	},
	"engineering/flock-4.3-roadmap.pptx": func() ([]byte, error) {
		return officegen.PPTX("Flock 4.3 roadmap", author, []officegen.Slide{
			{Title: "Flock 4.3 roadmap", Bullets: []string{"Engineering all-hands, 9 March 2026", "Flock platform team"}, Notes: []string{
				"Welcome everyone. This deck is the plan for the next release of Flock after 4.2, which went out on 10 February 2026.",
				"I will cover what 4.3 is for, when it ships and what could go wrong. The detailed design documents are linked from the Flock space in the wiki; questions at the end, or in the flock-platform channel afterwards.",
				"Please do not share these slides with customers yet: sales will get a customer version once the beta site has signed off.",
			}},
			{Title: "Goals", Bullets: []string{
				"Multi-floor sites: robots ride freight elevators between floors",
				"Battery swap stations for the Osprey pallet mover",
				"The fleet size per site stays at 600 robots",
			}, Notes: []string{
				"Multi-floor support is the feature customers ask for most. A robot calls a freight elevator through the building's elevator controller, rides it alone, and the traffic controller treats each floor as its own zone map joined by the elevator.",
				"Battery swap stations replace the charging pads for the Osprey. A swap takes about 90 seconds instead of a 40-minute charge, which matters for the night shift at the large distribution centres.",
				"We are deliberately not raising the fleet size limit in this release: the 600 robots per site that 4.2 introduced stays, so that the load tests of 4.2 remain valid.",
			}},
			{Title: "Release plan", Bullets: []string{"The Flock 4.3 beta starts on 4 May 2026 at Brightmart Columbus"}, Table: [][]string{
				{"Milestone", "Date", "Sites"},
				{"Beta", "4 May 2026", "Brightmart Columbus"},
				{"General availability", "29 June 2026", "All sites, in edge rings"},
			}, Notes: []string{
				"The beta runs at Brightmart Columbus, whose second floor opens in May and who agreed to be the first multi-floor site. The beta lasts eight weeks; the site team has a direct line to the platform on-call during that time.",
				"General availability follows on 29 June 2026 if the beta has no open severity 1 or 2 issues. The rollout goes through the usual edge rings, starting with the canary ring, and respects the peak-season deploy freeze later in the year.",
				"Release notes and the customer announcement are drafted by product marketing in the week before general availability.",
			}},
			{Title: "Risks", Bullets: []string{
				"The LiftLink elevator API allows only 10 calls per second per building",
				"Swap stations need a firmware update of every Osprey",
			}, Notes: []string{
				"The elevator controllers we integrate with go through the LiftLink cloud API, which is rate limited per building. With many robots waiting on several floors we could hit the limit, so the traffic controller batches elevator calls and keeps a local queue.",
				"Every Osprey needs new battery firmware before it can use a swap station. The update takes about 20 minutes per robot and must be done while the robot is parked, so field technicians will schedule it site by site during quiet hours.",
				"If either risk materialises, the fallback is to ship 4.3 with multi-floor support only and move swap stations to 4.4.",
				"A smaller risk is the test lab: we have one freight elevator simulator at the Austin Proving Ground, shared with the hardware team. We have booked it for April, and the hardware team has agreed to move their own tests to the evenings during those weeks.",
				"We will review these risks at every weekly release meeting until the beta starts, and the decision to go ahead with the beta is taken at the meeting of 27 April.",
			}},
		})
	},
	"handbook/it-equipment-catalogue-2026.xlsx": func() ([]byte, error) {
		return officegen.XLSX("IT equipment catalogue 2026", author, []officegen.Sheet{
			{Name: "Laptops", Rows: [][]any{
				{"Role", "Laptop", "Memory (GB)", "Replaced every (years)"},
				{"Robotics engineer", "ThinkPad P16 Gen 2", 64, 3},
				{"Software engineer", "MacBook Pro 16", 48, 3},
				{"Site reliability engineer", "MacBook Pro 16", 48, 3},
				{"Data engineer", "MacBook Pro 14", 36, 3},
				{"Field technician", "Panasonic Toughbook 40", 32, 4},
				{"Hardware test technician", "Dell Precision 5690", 32, 4},
				{"Product manager", "MacBook Air 15", 24, 4},
				{"Designer", "MacBook Pro 14", 36, 3},
				{"Sales", "MacBook Air 15", 16, 4},
				{"Customer success", "MacBook Air 13", 16, 4},
				{"Finance", "ThinkPad T14s Gen 5", 32, 4},
				{"People team", "ThinkPad T14s Gen 5", 32, 4},
				{"Everyone else", "ThinkPad T14s Gen 5", 32, 4},
			}, Comments: []officegen.Comment{
				{Row: 5, Col: 1, Author: "IT helpdesk", Text: "Field technicians get the Panasonic Toughbook 40, a rugged laptop that survives a drop onto a warehouse floor and works in the rain."},
			}},
			{Name: "Peripherals", Rows: [][]any{
				{"Item", "Who gets it", "How to order"},
				{"27-inch monitor", "Everyone, up to two", "IT portal"},
				{"Docking station", "Everyone with a monitor", "IT portal"},
				{"Noise-cancelling headset", "Everyone", "IT portal"},
				{"Ergonomic keyboard and mouse", "Everyone, on request", "IT portal"},
				{"Rugged tablet", "Field technicians", "Your field operations manager"},
				{"Safety boots allowance", "Field technicians", "Ledgerly, up to $200 a year"},
				{"Hardware security key", "Everyone, two of them", "Issued on the first day"},
				{"Mobile phone", "On-call engineers, sales, field technicians", "IT portal, with your manager's approval"},
				{"Home office chair", "Remote employees", "The home office allowance"},
				{"Label printer", "Warehouse and test lab staff", "IT helpdesk"},
				{"Test robot controller", "Robotics engineers", "Hardware lab, signed out per week"},
				{"Travel adapter kit", "Frequent travellers", "IT helpdesk"},
			}},
		})
	},
}

// TestDemoOfficeFiles checks that the committed office files are what the values above
// generate, byte for byte (and that generating twice gives the same bytes); with -update it
// writes them. An office file in testdata/demo that nothing here generates fails it.
func TestDemoOfficeFiles(t *testing.T) {
	for name, gen := range demoFiles {
		t.Run(name, func(t *testing.T) {
			got, err := gen()
			if err != nil {
				t.Fatal(err)
			}
			again, err := gen()
			if err != nil || !bytes.Equal(got, again) {
				t.Fatalf("generating %s twice gave different bytes (%v): not deterministic", name, err)
			}
			path := filepath.Join(demoDir, filepath.FromSlash(name))
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("wrote %s (%d bytes)", path, len(got))
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v\n(generate it with: go test ./internal/testing/officegen -run TestDemoOfficeFiles -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is not what the generator writes; regenerate it with:\n\tgo test ./internal/testing/officegen -run TestDemoOfficeFiles -update", path)
			}
		})
	}
	err := filepath.WalkDir(demoDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(demoDir, path)
		switch strings.ToLower(filepath.Ext(path)) {
		case ".docx", ".pptx", ".xlsx", ".odt", ".odp", ".ods":
			if demoFiles[filepath.ToSlash(rel)] == nil {
				t.Errorf("%s is generated by nothing in internal/testing/officegen: add it, or delete the file", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
