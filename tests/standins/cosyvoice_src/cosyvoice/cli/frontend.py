"""Stand-in for cosyvoice/cli/frontend.py: only the two methods whose source the wrapper reads.

At HEAD the caller writes the end-of-prompt marker; STANDIN_COSYVOICE_FRONTEND_ADDS_END=1
gives the frontend of upstream before 56d9876, which appended it itself."""

import os

if os.environ.get("STANDIN_COSYVOICE_FRONTEND_ADDS_END") == "1":

    class CosyVoiceFrontEnd:
        def frontend_instruct(self, tts_text, spk_id, instruct_text):
            return self._extract_text_token(instruct_text + '<endofprompt>')

        def frontend_instruct2(self, tts_text, instruct_text, prompt_wav, resample_rate, zero_shot_spk_id):
            return self.frontend_zero_shot(tts_text, instruct_text + '<|endofprompt|>', prompt_wav, resample_rate, zero_shot_spk_id)

else:

    class CosyVoiceFrontEnd:
        def frontend_instruct(self, tts_text, spk_id, instruct_text):
            return self._extract_text_token(instruct_text)

        def frontend_instruct2(self, tts_text, instruct_text, prompt_wav, resample_rate, zero_shot_spk_id):
            return self.frontend_zero_shot(tts_text, instruct_text, prompt_wav, resample_rate, zero_shot_spk_id)
