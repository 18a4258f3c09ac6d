//! The keys of a one-line text field, the same in every field of the interface.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// A key in a one-line text field (the confirmation word, the note, the masked prompt, the
/// search): a character is typed, Backspace deletes one, Ctrl-U clears the field, Ctrl-W (or
/// Alt-Backspace) deletes the word before the end; any other key with Ctrl or Alt does nothing.
/// Returns whether the field changed.
pub fn edit_field(field: &mut String, k: &KeyEvent) -> bool {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let alt = k.modifiers.contains(KeyModifiers::ALT);
    let before = field.len();
    match k.code {
        KeyCode::Char('u') if ctrl => field.clear(),
        KeyCode::Char('w') if ctrl => delete_word(field),
        KeyCode::Backspace if ctrl || alt => delete_word(field),
        // Ctrl-H is Backspace on some terminals.
        KeyCode::Char('h') if ctrl => {
            field.pop();
        }
        KeyCode::Backspace => {
            field.pop();
        }
        KeyCode::Char(c) if !ctrl && !alt && !c.is_control() => field.push(c),
        _ => {}
    }
    field.len() != before || k.code == KeyCode::Char(' ')
}

/// Deletes the last word and the spaces after it.
fn delete_word(field: &mut String) {
    let kept = field.trim_end().len();
    field.truncate(kept);
    let start = field
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map_or(0, |(i, c)| i + c.len_utf8());
    field.truncate(start);
}
