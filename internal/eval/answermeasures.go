package eval

import "slices"

// AnswerOutcome is what the answer path did with one case.
type AnswerOutcome struct {
	Case    *AnswerCase
	Refused bool
	// Answer is the answer's text, with its citation markers.
	Answer string
	// Cited are the judgment ids (JudgmentID) and the URIs of the documents the answer
	// cites; Given those of the sources it was given.
	Cited, Given []string
	// Claims are the answer's claim sentences, Supported those the validation found
	// supported by the passages they cite.
	Claims, Supported int
	Grounded          bool
	LatencyMS         float64
}

// GoldCited reports whether the answer cites one of the case's gold sources.
func (o *AnswerOutcome) GoldCited() bool { return !o.Refused && goldIn(o.Case.GoldSources, o.Cited) }

// GoldGiven reports whether the answer was written from sources that include a gold one.
func (o *AnswerOutcome) GoldGiven() bool { return !o.Refused && goldIn(o.Case.GoldSources, o.Given) }

// goldIn reports whether one of gold is among docs.
func goldIn(gold, docs []string) bool {
	return slices.ContainsFunc(gold, func(g string) bool { return slices.Contains(docs, g) })
}

// AnswerMeasures are the measures of a set of outcomes. A share of nothing (no case of the
// kind) is null in JSON.
type AnswerMeasures struct {
	Cases          int `json:"cases"`
	Answerable     int `json:"answerable"`
	Unanswerable   int `json:"unanswerable"`
	Underspecified int `json:"underspecified,omitempty"`
	// F1, Precision and Recall are the mean word overlap (BestOverlap) with the gold answers
	// over the answerable cases; a refusal scores 0.
	F1        *float64 `json:"answer_f1"`
	Precision *float64 `json:"answer_precision"`
	Recall    *float64 `json:"answer_recall"`
	// F1Answered is the mean F1 over the answerable cases that were answered.
	F1Answered *float64 `json:"answer_f1_when_answered"`
	// GoldCited is the share of the answerable cases with gold sources whose answer cites
	// one of them (a refusal cites nothing); GoldGiven the share whose answer was written
	// from sources that include one (what retrieval handed over).
	GoldCited *float64 `json:"gold_cited"`
	GoldGiven *float64 `json:"gold_in_sources"`
	// SentenceSupport is the share of claim sentences, over every answer given, that the
	// validation found supported by the passages they cite; Grounded the share of answers
	// given whose every claim is.
	SentenceSupport *float64 `json:"sentence_support"`
	Grounded        *float64 `json:"grounded"`
	// AnswerableAnswered is the share of answerable cases answered, UnanswerableRefused the
	// share of unanswerable ones refused, UnderspecifiedAnswered the share of underspecified
	// ones answered (rather than refused).
	AnswerableAnswered     *float64 `json:"answerable_answered"`
	UnanswerableRefused    *float64 `json:"unanswerable_refused"`
	UnderspecifiedAnswered *float64 `json:"underspecified_answered,omitempty"`
	Latency                Latency  `json:"latency_ms"`
}

// MeasureAnswers computes the measures of outcomes.
func MeasureAnswers(outcomes []AnswerOutcome) AnswerMeasures {
	m := AnswerMeasures{Cases: len(outcomes)}
	var f1, prec, rec, f1Answered, cited, given, grounded, latency []float64
	var answered, refused, underAnswered []float64
	claims, supported := 0, 0
	for i := range outcomes {
		o := &outcomes[i]
		latency = append(latency, o.LatencyMS)
		if !o.Refused {
			claims += o.Claims
			supported += o.Supported
			grounded = append(grounded, b2f(o.Grounded))
		}
		switch o.Case.Answerability {
		case Answerable:
			m.Answerable++
			answered = append(answered, b2f(!o.Refused))
			if len(o.Case.Answers) > 0 {
				ov := Overlap{}
				if !o.Refused {
					ov = BestOverlap(o.Answer, o.Case.Answers)
					f1Answered = append(f1Answered, ov.F1)
				}
				f1, prec, rec = append(f1, ov.F1), append(prec, ov.Precision), append(rec, ov.Recall)
			}
			if len(o.Case.GoldSources) > 0 {
				cited = append(cited, b2f(o.GoldCited()))
				given = append(given, b2f(o.GoldGiven()))
			}
		case Unanswerable:
			m.Unanswerable++
			refused = append(refused, b2f(o.Refused))
		case Underspecified:
			m.Underspecified++
			underAnswered = append(underAnswered, b2f(!o.Refused))
		}
	}
	m.F1, m.Precision, m.Recall = meanOf(f1), meanOf(prec), meanOf(rec)
	m.F1Answered = meanOf(f1Answered)
	m.GoldCited, m.GoldGiven = meanOf(cited), meanOf(given)
	if claims > 0 {
		s := float64(supported) / float64(claims)
		m.SentenceSupport = &s
	}
	m.Grounded = meanOf(grounded)
	m.AnswerableAnswered, m.UnanswerableRefused = meanOf(answered), meanOf(refused)
	m.UnderspecifiedAnswered = meanOf(underAnswered)
	if len(latency) > 0 {
		p := Percentiles(latency, 50, 95, 99)
		m.Latency = Latency{P50: p[0], P95: p[1], P99: p[2]}
	}
	return m
}

// meanOf is the mean of v, nil for no value.
func meanOf(v []float64) *float64 {
	if len(v) == 0 {
		return nil
	}
	m := Mean(v)
	return &m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
