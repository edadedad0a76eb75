"""The baseline a text model is judged against: TF-IDF + linear SVM (scikit-learn), on the
corpus `csm-bench classification export` writes, with the same train / test split.

    pip install scikit-learn
    target/release/csm-bench classification export --examples 100000 > /tmp/corpus.tsv
    python3 tools/bench/baseline/tfidf_svm.py /tmp/corpus.tsv

Chinese has no spaces, so the word analyser sees whole sentences as tokens; the character
analyser (1- to 3-grams) is the fair baseline for Chinese text, and both are reported.
"""
import sys
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.svm import LinearSVC


def main(path):
    train, test = ([], []), ([], [])
    with open(path, encoding="utf-8") as corpus:
        for line in corpus:
            split, leaf, text = line.rstrip("\n").split("\t", 2)
            target = train if split == "train" else test
            target[0].append(text)
            target[1].append(leaf)
    for name, vectorizer in [
        ("word 1-2-grams", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ("char 1-3-grams", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)),
    ]:
        started = time.perf_counter()
        x_train = vectorizer.fit_transform(train[0])
        model = LinearSVC().fit(x_train, train[1])
        seconds = time.perf_counter() - started
        predicted = model.predict(vectorizer.transform(test[0]))
        print(
            f"TF-IDF ({name}) + LinearSVC: trained on {len(train[0])} in {seconds:.2f} s; "
            f"accuracy {accuracy_score(test[1], predicted):.3f}, "
            f"macro-F1 {f1_score(test[1], predicted, average='macro'):.3f}"
        )


if __name__ == "__main__":
    main(sys.argv[1])
