"""Natural-language understanding: text in, intent and entities out, in Rasa's `/model/parse` shape."""
