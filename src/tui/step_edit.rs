//! Editing a sequence's email step in the composer: pick the step (or
//! variant) of the open sequence, edit `Subject:` and body, Ctrl-S saves it
//! through `update_step_text` (see `Job::UpdateStepText`).

use super::app::{App, Overlay};
use super::panes::compose::ComposeTarget;
use super::widgets::overlays::{Picker, PickerPurpose, StepText};
use crate::model::StepKind;

impl App {
    /// Lists the open sequence's email steps (each variant on its own line).
    pub(super) fn pick_step_to_edit(&mut self) {
        let Some(sequence) = self.sequences.detail.as_ref().map(|d| &d.summary.sequence) else {
            self.error("Open a sequence first");
            return;
        };
        let mut steps = Vec::new();
        let mut items = Vec::new();
        for (index, step) in sequence.steps.iter().enumerate() {
            let StepKind::Email { variants, .. } = &step.kind else {
                continue;
            };
            for v in variants {
                let variant = (variants.len() > 1).then(|| v.label.clone());
                let shown = if v.subject.is_empty() {
                    "(follow-up in thread)".to_string()
                } else {
                    super::widgets::clip(&v.subject, 40)
                };
                items.push(format!(
                    "{}. {}{} · {shown}",
                    index + 1,
                    step.name,
                    variant
                        .as_ref()
                        .map(|l| format!(" [{l}]"))
                        .unwrap_or_default()
                ));
                steps.push(StepText {
                    step: index,
                    variant,
                    subject: v.subject.clone(),
                    body: v.body.clone(),
                });
            }
        }
        if steps.is_empty() {
            self.error(format!("{} has no email step to edit", sequence.name));
            return;
        }
        self.overlay = Overlay::Picker(Picker {
            title: format!("Edit a step of {}", sequence.name),
            items,
            query: String::new(),
            cursor: Default::default(),
            purpose: PickerPurpose::EditStep {
                sequence: sequence.name.clone(),
                account: sequence.account.clone(),
                steps,
            },
        });
    }

    /// Opens the composer on a step's text: a `Subject:` line, then the body.
    pub(super) fn edit_step_text(&mut self, sequence: String, account: String, chosen: StepText) {
        let target = ComposeTarget::SequenceStep {
            sequence,
            account,
            step: chosen.step,
            variant: chosen.variant,
        };
        self.start_compose(target);
        if let Some(compose) = &mut self.compose {
            compose.set_text(&format!("Subject: {}\n\n{}", chosen.subject, chosen.body));
        }
        self.variables = crate::model::Lead::STANDARD_FIELDS
            .iter()
            .map(|name| (name.to_string(), None))
            .collect();
    }
}
