//! Chat prompts: the model's own `tokenizer.chat_template` rendered the way Hugging Face
//! transformers renders it (Jinja with `trim_blocks`/`lstrip_blocks`, Python string methods,
//! `raise_exception`). llama.cpp's built-in template engine is not used: it only recognises
//! templates by heuristics and drops details such as SmolLM2's default system prompt.

use minijinja::{context, Environment, Error, ErrorKind};
use serde::Serialize;

use crate::EngineError;

/// One turn of a conversation, in the shape chat templates expect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatTurn {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl ChatTurn {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Used when a model ships no template: plain ChatML, which most small instruct models were
/// trained on. Each turn is `<|im_start|>{role}\n{content}<|im_end|>\n`; the generation prompt
/// is `<|im_start|>assistant\n`. No default system prompt is added.
pub const FALLBACK_CHATML_TEMPLATE: &str = "{% for message in messages %}\
{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}\
{% endfor %}\
{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

const TEMPLATE_NAME: &str = "chat";

/// A compiled chat template plus the special-token strings it may refer to.
#[derive(Debug)]
pub(crate) struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles `source`; a syntax error is reported now rather than on the first request.
    pub(crate) fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, EngineError> {
        let mut env = Environment::new();
        // transformers' ImmutableSandboxedEnvironment uses these two settings.
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(TEMPLATE_NAME, source.to_string())
            .map_err(|e| EngineError::Template(e.to_string()))?;
        Ok(Self {
            env,
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        })
    }

    pub(crate) fn render(
        &self,
        turns: &[ChatTurn],
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|e| EngineError::Template(e.to_string()))?;
        template
            .render(context! {
                messages => turns,
                add_generation_prompt => add_generation_prompt,
                bos_token => self.bos_token,
                eos_token => self.eos_token,
            })
            .map_err(|e| EngineError::Template(template_error_message(&e)))
    }
}

fn raise_exception(message: String) -> Result<String, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

/// minijinja wraps errors raised inside the template; the innermost message is the useful one
/// (for `raise_exception` it is the template author's own text).
fn template_error_message(error: &Error) -> String {
    match error.detail() {
        Some(detail) => detail.to_string(),
        None => error.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// SmolLM2-135M-Instruct's `tokenizer.chat_template`, verbatim from its GGUF.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn smollm2() -> ChatTemplate {
        ChatTemplate::new(SMOLLM2, "<|im_start|>", "<|im_end|>").unwrap()
    }

    #[test]
    fn user_only_conversation_gets_the_default_system_prompt() {
        let prompt = smollm2()
            .render(&[ChatTurn::new("user", "Hi")], true)
            .unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n\
             <|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn explicit_system_prompt_replaces_the_default() {
        let prompt = smollm2()
            .render(
                &[
                    ChatTurn::new("system", "Be brief."),
                    ChatTurn::new("user", "Hi"),
                    ChatTurn::new("assistant", "Hello."),
                    ChatTurn::new("user", "Bye"),
                ],
                false,
            )
            .unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
             <|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
        );
        assert!(!prompt.contains("SmolLM"));
    }

    #[test]
    fn python_string_methods_and_special_tokens_are_available() {
        let template = ChatTemplate::new(
            "{{ bos_token }}{% for m in messages %}[{{ m.role.upper() }}]{{ m.content.strip() }}{% endfor %}{{ eos_token }}",
            "<s>",
            "</s>",
        )
        .unwrap();
        let prompt = template
            .render(&[ChatTurn::new("user", "  spaced  ")], false)
            .unwrap();
        assert_eq!(prompt, "<s>[USER]spaced</s>");
    }

    #[test]
    fn raise_exception_surfaces_the_template_message() {
        let template = ChatTemplate::new(
            "{% if messages[0].role == 'assistant' %}{{ raise_exception('Conversation must start with a user turn') }}{% endif %}",
            "",
            "",
        )
        .unwrap();
        let error = template
            .render(&[ChatTurn::new("assistant", "x")], false)
            .unwrap_err();
        match error {
            EngineError::Template(message) => {
                assert!(
                    message.contains("Conversation must start with a user turn"),
                    "{message}"
                )
            }
            other => panic!("unexpected error {other:?}"),
        }
    }

    #[test]
    fn trim_and_lstrip_blocks_match_transformers() {
        let template = ChatTemplate::new(
            "{% for m in messages %}\n    {{ m.content }}\n{% endfor %}",
            "",
            "",
        )
        .unwrap();
        let prompt = template
            .render(
                &[ChatTurn::new("user", "a"), ChatTurn::new("user", "b")],
                false,
            )
            .unwrap();
        assert_eq!(prompt, "    a\n    b\n");
    }

    #[test]
    fn fallback_is_chatml() {
        let template = ChatTemplate::new(FALLBACK_CHATML_TEMPLATE, "", "").unwrap();
        let prompt = template
            .render(
                &[ChatTurn::new("system", "S"), ChatTurn::new("user", "U")],
                true,
            )
            .unwrap();
        assert_eq!(
            prompt,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn syntax_errors_are_reported_at_compile_time() {
        assert!(matches!(
            ChatTemplate::new("{% for %}", "", ""),
            Err(EngineError::Template(_))
        ));
    }
}
