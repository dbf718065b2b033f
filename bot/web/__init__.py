"""The web app: the demo page with the chat widget (rasa-webchat from npm), on WEB_PORT."""
