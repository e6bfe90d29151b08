"""The knowledge kept for every process: the last version that loaded without a problem, served while an edit is refused."""

import json


class KeptKnowledge:
    """The texts of the knowledge file, the red flags and the language files, under the name of their version."""

    def keep_knowledge(self, version, text, safety_text, language):
        """Keep a version that just loaded without a problem: the texts of the knowledge file, of the red flags and
        of the language files (by file name), for every process to serve while the files are refused."""
        self.redis.mset({self.keys.knowledge_version: version, self.keys.knowledge: text,
                         self.keys.safety: safety_text, self.keys.language: json.dumps(language)})

    def kept_knowledge_version(self):
        """The name of the version kept, or None; cheaper than its texts, which change far less often than asked."""
        return self.redis.get(self.keys.knowledge_version)

    def kept_knowledge(self):
        """(version, knowledge text, red flags text, {language file name: text}) last loaded without a problem, or None."""
        kept = self.redis.mget(self.keys.knowledge_version, self.keys.knowledge, self.keys.safety, self.keys.language)
        if None in kept:
            return None
        version, text, safety_text, language = kept
        return version, text, safety_text, json.loads(language)
