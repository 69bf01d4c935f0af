//! Turning pre-formatted completion prompts back into system text and messages.
//!
//! Llama, Mistral and Titan bodies carry one prompt string that the client already laid out in
//! the model family's chat format. basalt serves them with whatever model the catalog names,
//! which has its own chat template, so the prompt is parsed back into turns and the serving
//! model re-renders them. A prompt in none of the known layouts becomes one user message.

use basalt_types::{Message, Role};

/// A prompt split into turns.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Conversation {
    pub system: Option<String>,
    pub messages: Vec<Message>,
}

impl Conversation {
    /// The whole prompt as a single user message.
    pub fn plain(prompt: &str) -> Self {
        Conversation {
            system: None,
            messages: vec![Message::text(Role::User, prompt)],
        }
    }

    fn push_system(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match &mut self.system {
            Some(existing) => {
                existing.push_str("\n\n");
                existing.push_str(text);
            }
            None => self.system = Some(text.to_string()),
        }
    }

    /// Appends a turn, merging it into the previous one when the role repeats, so the result
    /// alternates as Converse requires.
    fn push(&mut self, role: Role, text: &str) {
        if text.is_empty() {
            return;
        }
        if let Some(last) = self.messages.last_mut() {
            if last.role == role {
                let merged = format!("{}\n\n{text}", last.joined_text());
                *last = Message::text(role, merged);
                return;
            }
        }
        self.messages.push(Message::text(role, text));
    }

    /// A parse is only trusted when it found a conversation that starts with the user.
    fn accept(self) -> Option<Self> {
        match self.messages.first() {
            Some(first) if first.role == Role::User => Some(self),
            _ => None,
        }
    }
}

/// Llama 3 header layout, Llama 2 / Mistral `[INST]` layout, or plain text, in that order.
pub(crate) fn parse_chat_prompt(prompt: &str) -> Conversation {
    parse_llama3(prompt)
        .or_else(|| parse_inst(prompt))
        .unwrap_or_else(|| Conversation::plain(prompt))
}

/// `<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n...<|eot_id|>...`
/// A trailing open `assistant` header is the generation prompt and is dropped; trailing
/// assistant text after it is kept as a prefill.
pub(crate) fn parse_llama3(prompt: &str) -> Option<Conversation> {
    const HEADER: &str = "<|start_header_id|>";
    const HEADER_END: &str = "<|end_header_id|>";
    if !prompt.contains(HEADER) {
        return None;
    }
    let body = prompt.replace("<|begin_of_text|>", "");
    let mut pieces = body.split(HEADER);
    // Nothing but whitespace may come before the first header.
    if !pieces.next().unwrap_or_default().trim().is_empty() {
        return None;
    }
    let mut conversation = Conversation::default();
    for piece in pieces {
        let (role, rest) = piece.split_once(HEADER_END)?;
        let content = match rest.find("<|eot_id|>").or_else(|| rest.find("<|eom_id|>")) {
            Some(end) => {
                if !rest[end..]
                    .trim_start_matches("<|eot_id|>")
                    .trim_start_matches("<|eom_id|>")
                    .trim()
                    .is_empty()
                {
                    // Text between a turn's end and the next header: not a layout we know.
                    return None;
                }
                &rest[..end]
            }
            None => rest,
        };
        let content = content.trim();
        match role.trim() {
            "system" => conversation.push_system(content),
            "user" | "ipython" | "tool" => conversation.push(Role::User, content),
            "assistant" => conversation.push(Role::Assistant, content),
            _ => return None,
        }
    }
    conversation.accept()
}

/// `<s>[INST] <<SYS>>\n...\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] next [/INST]`
/// (Llama 2, and Mistral without the `<<SYS>>` block).
pub(crate) fn parse_inst(prompt: &str) -> Option<Conversation> {
    const OPEN: &str = "[INST]";
    const CLOSE: &str = "[/INST]";
    if !prompt.contains(OPEN) {
        return None;
    }
    let body = prompt.replace("<s>", "").replace("</s>", "");
    let mut turns = body.split(OPEN);
    if !turns.next().unwrap_or_default().trim().is_empty() {
        return None;
    }
    let mut conversation = Conversation::default();
    for turn in turns {
        let (user, assistant) = turn.split_once(CLOSE).unwrap_or((turn, ""));
        let mut user = user.trim();
        if let Some(after_open) = user.strip_prefix("<<SYS>>") {
            let (system, rest) = after_open.split_once("<</SYS>>")?;
            conversation.push_system(system.trim());
            user = rest.trim();
        }
        conversation.push(Role::User, user);
        conversation.push(Role::Assistant, assistant.trim());
    }
    conversation.accept()
}

/// Titan's conversational layout: `User: ...\nBot: ...\nUser: ...\nBot:`.
/// Lines before the first `User:` are instructions and become the system prompt; a final
/// empty `Bot:` is the generation prompt and is dropped.
pub(crate) fn parse_titan_transcript(text: &str) -> Option<Conversation> {
    let mut preamble: Vec<&str> = Vec::new();
    let mut turns: Vec<(Role, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        let marker = match line.strip_prefix("User:") {
            Some(rest) => Some((Role::User, rest)),
            None => line
                .strip_prefix("Bot:")
                .or_else(|| line.strip_prefix("Assistant:"))
                .map(|rest| (Role::Assistant, rest)),
        };
        match (marker, turns.last_mut()) {
            (Some((role, rest)), _) => turns.push((role, vec![rest])),
            (None, Some((_, lines))) => lines.push(line),
            (None, None) => preamble.push(line),
        }
    }
    if !turns.iter().any(|(role, _)| *role == Role::User) {
        return None;
    }
    let mut conversation = Conversation::default();
    conversation.push_system(preamble.join("\n").trim());
    for (role, lines) in &turns {
        conversation.push(*role, lines.join("\n").trim());
    }
    conversation.accept()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(conversation: &Conversation) -> Vec<(Role, String)> {
        conversation
            .messages
            .iter()
            .map(|m| (m.role, m.joined_text()))
            .collect()
    }

    #[test]
    fn llama3_layout_splits_into_turns() {
        let prompt = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>\
            <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
            <|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>\
            <|start_header_id|>user<|end_header_id|>\n\nName a color.<|eot_id|>\
            <|start_header_id|>assistant<|end_header_id|>\n\n";
        let parsed = parse_chat_prompt(prompt);
        assert_eq!(parsed.system.as_deref(), Some("You are terse."));
        assert_eq!(
            texts(&parsed),
            vec![
                (Role::User, "Hi".to_string()),
                (Role::Assistant, "Hello!".to_string()),
                (Role::User, "Name a color.".to_string()),
            ]
        );
    }

    #[test]
    fn llama3_open_assistant_text_is_a_prefill() {
        let prompt = "<|start_header_id|>user<|end_header_id|>\n\nCount<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n1, 2,";
        let parsed = parse_chat_prompt(prompt);
        assert_eq!(
            texts(&parsed).last(),
            Some(&(Role::Assistant, "1, 2,".to_string()))
        );
    }

    #[test]
    fn llama2_layout_with_system_block() {
        let prompt = "<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi there [/INST] Hello! </s><s>[INST] And you? [/INST]";
        let parsed = parse_chat_prompt(prompt);
        assert_eq!(parsed.system.as_deref(), Some("Be kind."));
        assert_eq!(
            texts(&parsed),
            vec![
                (Role::User, "Hi there".to_string()),
                (Role::Assistant, "Hello!".to_string()),
                (Role::User, "And you?".to_string()),
            ]
        );
    }

    #[test]
    fn unknown_layouts_fall_back_to_one_user_message() {
        let parsed = parse_chat_prompt("Once upon a time");
        assert_eq!(parsed, Conversation::plain("Once upon a time"));
        // Text before the first [INST] is not the layout: keep the prompt whole.
        let odd = "Intro [INST] question [/INST]";
        assert_eq!(parse_chat_prompt(odd), Conversation::plain(odd));
        // An unknown header role is not the layout either.
        let header = "<|start_header_id|>narrator<|end_header_id|>\n\nx<|eot_id|>";
        assert_eq!(parse_chat_prompt(header), Conversation::plain(header));
    }

    #[test]
    fn titan_transcript_becomes_messages() {
        let parsed = parse_titan_transcript(
            "Answer in one word.\n\nUser: Sky color?\nBot: Blue\nUser: Grass?\nBot:",
        )
        .unwrap_or_default();
        assert_eq!(parsed.system.as_deref(), Some("Answer in one word."));
        assert_eq!(
            texts(&parsed),
            vec![
                (Role::User, "Sky color?".to_string()),
                (Role::Assistant, "Blue".to_string()),
                (Role::User, "Grass?".to_string()),
            ]
        );
        assert_eq!(parse_titan_transcript("Write a poem about rain."), None);
        assert_eq!(parse_titan_transcript("Bot: hi\nUser: yo"), None);
    }

    #[test]
    fn repeated_roles_merge() {
        let parsed = parse_titan_transcript("User: a\nUser: b\nBot:").unwrap_or_default();
        assert_eq!(texts(&parsed), vec![(Role::User, "a\n\nb".to_string())]);
    }
}
