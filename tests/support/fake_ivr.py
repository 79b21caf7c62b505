"""A caller in the IVR, scripted: the port cbdialer.ports.ivr.IvrCall without Asterisk. Each prompt step takes the
next scripted key (as a caller who presses it while the step plays); `hang_up_at` makes the caller hang up at that
step, `fail_at` makes that step fail as a missing sound file or an unwritable directory does. What the flow played, set and recorded is kept for the test to read."""

from __future__ import annotations

from dataclasses import dataclass, field

from cbdialer.ports.ivr import CallerHungUp, IvrError, IvrRequest, Prompt, Recorded


@dataclass
class FakeIvrCall:
    request: IvrRequest
    keys: list[str] = field(default_factory=list)  # one entry per step that listens: "1", "442079460013", "#"...
    variables: dict[str, str] = field(default_factory=dict)
    record_samples: int = 0  # what RECORD FILE would write
    hang_up_at: int | None = None  # the step (0-based) at which the caller hangs up
    fail_at: int | None = None  # the step at which Asterisk fails on a live channel (a file missing)
    played: list[Prompt] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    steps: int = 0

    def _step(self) -> None:
        if self.hang_up_at is not None and self.steps >= self.hang_up_at:
            raise CallerHungUp("the caller hung up")
        if self.fail_at is not None and self.steps == self.fail_at:
            self.steps += 1
            raise IvrError("STREAM FILE failed on a live channel")
        self.steps += 1

    async def variable(self, name: str) -> str | None:
        return self.variables.get(name)

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value

    async def get_digits(self, prompts: list[Prompt], *, timeout: float, max_digits: int) -> str:
        if not prompts or not isinstance(prompts[-1], str):  # the real adapter's rule (GET DATA needs a file)
            raise ValueError("the last prompt of get_digits must be a sound file")
        self._step()
        self.played.extend(prompts)
        key = self.keys.pop(0) if self.keys else ""
        return key.removesuffix("#")[:max_digits]

    async def stream_file(self, prompt: str, *, escape: str = "") -> str:
        self._step()
        self.played.append(prompt)
        if escape and self.keys and self.keys[0] in escape:
            return self.keys.pop(0)
        return ""

    async def record_file(self, path: str, *, escape: str = "#", timeout: float = 20.0, beep: bool = True,
                          silence: float = 3.0) -> Recorded:
        self._step()
        self.recorded.append(path)
        return Recorded(dtmf="#", end_position=self.record_samples)
