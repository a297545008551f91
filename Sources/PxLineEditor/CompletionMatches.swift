/// What one press of Tab does to the line: the completer's answer, restated in terms of libedit's word.
///
/// libedit finds the word before the cursor by itself, with its own word-break characters, and can replace only
/// that word. The completer may see the token differently: libedit may stop at a `-` inside `--targets`, or go
/// further back than the completer's token. Each candidate is therefore rewritten as a replacement for libedit's
/// word: the part of the token before libedit's word is dropped, or the part of libedit's word before the token is
/// put in front.
///
/// Positions in libedit's word are counted in Unicode scalars, because libedit edits a `wchar_t` buffer; positions
/// in the completer's token are counted in `Character`s, as `LineEditor.Completer` documents.
struct CompletionMatches: Equatable {
    /// The text that takes the place of libedit's word right away.
    ///
    /// The one replacement when there is a single candidate, else the longest common prefix of the replacements, but
    /// never less than the word typed so far: Tab must not delete what the user typed.
    var insertion: String

    /// Each candidate rewritten as a replacement for libedit's word, in the completer's order, without duplicates.
    var replacements: [String]

    /// The candidates as the completer gave them, for listing; parallel to `replacements`.
    var candidates: [String]

    /// Whether libedit adds a space after the insertion.
    ///
    /// Only a single candidate is followed by a space, and not when it ends in a character that a longer name or an
    /// argument usually follows, such as `np.` or `--group-outputs=`.
    var appendsSpace: Bool

    /// Whether Tab can do nothing but list: there are several candidates and no longer common prefix to insert.
    var needsListing: Bool

    /// The characters after which a single completion gets no space.
    static let charactersContinuingAToken: Set<Unicode.Scalar> = [".", "/", "(", "[", "="]

    /// Reconciles a completer's answer with libedit's word.
    ///
    /// - Parameters:
    ///   - lineBeforeCursor: The edit buffer up to the cursor.
    ///   - wordStart: Where libedit's word starts in `lineBeforeCursor`, in Unicode scalars.
    ///   - tokenStart: Where the completer's token starts in `lineBeforeCursor`, in `Character`s.
    ///   - candidates: The completer's full replacements for its token.
    /// - Returns: `nil` when no candidate can replace libedit's word.
    init?(lineBeforeCursor: String, wordStart: Int, tokenStart: Int, candidates: [String]) {
        let scalars = lineBeforeCursor.unicodeScalars
        let wordIndex =
            scalars.index(scalars.startIndex, offsetBy: max(wordStart, 0), limitedBy: scalars.endIndex)
            ?? scalars.endIndex
        let tokenIndex =
            lineBeforeCursor.index(
                lineBeforeCursor.startIndex,
                offsetBy: max(tokenStart, 0),
                limitedBy: lineBeforeCursor.endIndex
            )
            ?? lineBeforeCursor.endIndex
        let word = String(scalars[wordIndex...])

        var replacements: [String] = []
        var kept: [String] = []
        for candidate in candidates {
            let replacement: String
            if tokenIndex <= wordIndex {
                // The token starts first: libedit's word is its tail, so drop the token's head.
                let head = scalars[tokenIndex..<wordIndex]
                guard candidate.unicodeScalars.starts(with: head) else { continue }
                replacement = String(candidate.unicodeScalars.dropFirst(head.count))
            } else {
                // libedit's word starts first: keep its head in front of the candidate.
                replacement = String(scalars[wordIndex..<tokenIndex]) + candidate
            }
            guard !replacements.contains(where: { $0.unicodeScalars.elementsEqual(replacement.unicodeScalars) })
            else { continue }
            replacements.append(replacement)
            kept.append(candidate)
        }
        guard let first = replacements.first else { return nil }

        var insertion = first
        if replacements.count > 1 {
            insertion = Self.longestCommonPrefix(of: replacements)
            if !insertion.unicodeScalars.starts(with: word.unicodeScalars) {
                insertion = word
            }
        }
        self.init(
            insertion: insertion,
            replacements: replacements,
            candidates: kept,
            appendsSpace: replacements.count == 1
                && !(first.unicodeScalars.last.map(Self.charactersContinuingAToken.contains) ?? false),
            needsListing: replacements.count > 1 && insertion.unicodeScalars.elementsEqual(word.unicodeScalars)
        )
    }

    /// The matches that make Tab insert `text` at the cursor and nothing else.
    ///
    /// Used to indent: libedit's word is empty after whitespace, so `text` goes in at the cursor.
    static func insertingText(_ text: String) -> CompletionMatches {
        CompletionMatches(
            insertion: text,
            replacements: [text],
            candidates: [text],
            appendsSpace: false,
            needsListing: false
        )
    }

    private init(
        insertion: String,
        replacements: [String],
        candidates: [String],
        appendsSpace: Bool,
        needsListing: Bool
    ) {
        self.insertion = insertion
        self.replacements = replacements
        self.candidates = candidates
        self.appendsSpace = appendsSpace
        self.needsListing = needsListing
    }

    /// The longest common prefix, compared scalar by scalar so that it never splits a UTF-8 sequence.
    private static func longestCommonPrefix(of strings: [String]) -> String {
        guard var prefix = strings.first.map({ Array($0.unicodeScalars) }) else { return "" }
        for string in strings.dropFirst() {
            let common = zip(prefix, string.unicodeScalars).prefix { $0 == $1 }.count
            prefix.removeLast(prefix.count - common)
        }
        var result = String.UnicodeScalarView()
        result.append(contentsOf: prefix)
        return String(result)
    }
}
