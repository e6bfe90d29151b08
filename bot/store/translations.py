"""The English and Hindi texts of a knowledge file last known to agree: a fingerprint of each, per text."""

import json


class Translations:
    """Per file name (e.g. responses.yaml) and text (e.g. intents.costs.reply): {"en": fingerprint, "hi": fingerprint}."""

    def agreed_texts(self, name):
        """{text: {"en", "hi"}} of the texts of the file `name` whose languages were last known to agree."""
        raw = self.redis.hgetall(self.keys.of("translations", name))
        return {text: json.loads(value) for text, value in raw.items()}

    def agree_texts(self, name, fingerprints):
        """Record that these texts ({text: {"en", "hi"}}) agree in both languages as they are now."""
        if fingerprints:
            self.redis.hset(self.keys.of("translations", name),
                            mapping={text: json.dumps(value) for text, value in fingerprints.items()})
