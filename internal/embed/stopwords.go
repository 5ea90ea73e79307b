package embed

// stopWordList holds English function words. They say little about what a text is about
// yet are its most frequent words, so Builtin gives them a small weight, no n-grams, and
// lets bigrams skip over them ("deploy the service" has the bigram "deploy service").
var stopWordList = []string{
	"a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
	"as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
	"by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
	"from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
	"him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself",
	"just", "me", "more", "most", "my", "myself", "no", "nor", "not", "of", "off", "on",
	"once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "s",
	"same", "she", "should", "so", "some", "such", "t", "than", "that", "the", "their",
	"theirs", "them", "themselves", "then", "there", "these", "they", "this", "those",
	"through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what",
	"when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you",
	"your", "yours", "yourself", "yourselves",
}

// stopWords holds the hashes (wordHash) of stopWordList; maxStopWordLen is the length in
// runes of its longest word, so that longer words skip the lookup. Both are read-only.
var stopWords, maxStopWordLen = func() (map[uint64]struct{}, int) {
	m := make(map[uint64]struct{}, len(stopWordList))
	longest := 0
	for _, w := range stopWordList {
		r := []rune(w)
		m[wordHash(r)] = struct{}{}
		longest = max(longest, len(r))
	}
	return m, longest
}()
