"""Stand-in for wetext 0.0.4: Normalizer() fetches its FSTs from ModelScope;
STANDIN_WETEXT_OFFLINE=1 makes that fetch fail as it does without network."""

import os


class Normalizer:
    def __init__(self, tagger_path=None, verbalizer_path=None, lang="auto", operator="tn", remove_erhua=False):
        if os.environ.get("STANDIN_WETEXT_OFFLINE") == "1":
            raise ConnectionError("HTTPSConnectionPool(host='www.modelscope.cn', port=443): Max retries exceeded")
        self.taggers, self.verbalizers = {"zh": None}, {"zh": None}

    def normalize(self, text):
        return text.replace("2", "二")
