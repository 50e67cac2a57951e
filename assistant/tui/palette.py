"""The command palette (Ctrl+P): the app's actions under Russian names."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from assistant.chat.modes import Mode

# (name shown, help, action on the app)
PALETTE: tuple[tuple[str, str, str], ...] = (
    ("Режим: Чат", "разговор без поиска", f"set_mode('{Mode.CHAT}')"),
    ("Режим: Документы", "ответы по индексу с источниками", f"set_mode('{Mode.DOCUMENTS}')"),
    ("Режим: Стихи", "стихотворение в стиле автора", f"set_mode('{Mode.POEM}')"),
    ("Выбрать автора", "автор для режима «Стихи»", "pick_author"),
    ("Новый разговор", "начать с чистого листа", "new_conversation"),
    ("История разговоров", "открыть или удалить разговор", "history"),
    ("Экспорт в Markdown", "сохранить разговор с источниками", "export"),
    ("Копировать последний ответ", "в буфер обмена", "copy_last"),
    ("Настройки", "k, температура, длина, адаптер, индекс", "settings"),
    ("Индексировать папку…", "вписывает /index в поле ввода", "start_index_command"),
    ("Сменить тему", "светлая / тёмная", "toggle_theme"),
    ("Справка", "клавиши и команды", "help"),
    ("Выход", "закрыть Лиру", "quit"),
)


class LiraCommands(Provider):
    """Offers every entry of PALETTE, fuzzy-matched on its name."""

    async def discover(self) -> Hits:
        for name, help_text, action in PALETTE:
            yield DiscoveryHit(name, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in PALETTE:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self._run, action),
                          help=help_text)

    async def _run(self, action: str) -> None:
        await self.app.run_action(action)
