package cognition

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokens splits text into the terms shared by the lexical index and the
// offline embedder: lower-cased runs of letters and digits, English stop words
// and one-letter words dropped, plurals folded by the S-stemmer.
func tokens(text string) []string {
	var out []string
	start := -1
	flush := func(end int) {
		if start < 0 {
			return
		}
		if t := term(text[start:end]); t != "" {
			out = append(out, t)
		}
		start = -1
	}
	for i, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		flush(i)
	}
	flush(len(text))
	return out
}

// term normalises one word, or returns "" for a word that carries no meaning.
func term(word string) string {
	w := lowerASCIIFast(word)
	if utf8.RuneCountInString(w) < 2 && !isDigits(w) {
		return ""
	}
	if stopWords[w] {
		return ""
	}
	return sStem(w)
}

func lowerASCIIFast(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.ToLower(s)
		}
		if 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// sStem is Harman's S-stemmer (1991): it folds English plurals only, which
// keeps it predictable ("packings" -> "packing", "queries" -> "query").
func sStem(w string) string {
	if len(w) <= 3 {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ies") && !strings.HasSuffix(w, "eies") && !strings.HasSuffix(w, "aies"):
		return w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "es") && !strings.HasSuffix(w, "aes") && !strings.HasSuffix(w, "ees") && !strings.HasSuffix(w, "oes"):
		return w[:len(w)-1]
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "ss"):
		return w[:len(w)-1]
	}
	return w
}

// stopWords are common English function words; they match everything and so
// tell nothing about relevance.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a about above after again against all also am an and any are as at be
	because been before being below between both but by can could did do does doing down during each
	few for from further had has have having he her here hers herself him himself his how i if in into
	is it its itself just me more most my myself no nor not now of off on once only or other our ours
	ourselves out over own same she should so some such than that the their theirs them themselves then
	there these they this those through to too under until up very was we were what when where which
	while who whom why will with would you your yours yourself yourselves may might must shall use used
	using via per e g eg ie etc`) {
		m[w] = true
	}
	return m
}()
