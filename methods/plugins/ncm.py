"""ER with a nearest-class-mean classifier on its buffer (iCaRL's nearest-mean-of-exemplars).

Trained as ER. At evaluation each class's mean is the mean of the unit-length pooled backbone features
(the heads' pooling, in eval mode) of its buffer examples, scaled to unit length again, and an
example goes to the allowed class whose mean has the highest cosine similarity with its feature.
Cosine, as iCaRL (which L2-normalises features and means) and the suite's NCM probe: on unit vectors
it ranks as the euclidean distance does, and it ignores the feature norm, which drifts as the
backbone trains. A class with no buffer example cannot be predicted.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from methods.plugins.replay import FILL_BATCH, ReplayPlugin


class NCMReplayPlugin(ReplayPlugin):
    means: torch.Tensor | None = None  # [classes, features] unit class means; NaN rows: no example

    def before_eval(self, strategy, **kwargs):
        """The class means of the buffer, once per evaluation (the model does not change during it)."""
        model, n = strategy.model, len(self.buffer)
        ids, y = self.buffer.ids[:n].long(), self.buffer.y[:n].long()
        with torch.no_grad(), strategy.autocast():
            feats = torch.cat([
                model.features(ids[i : i + FILL_BATCH].to(strategy.device), model.predict_chunk_rows).float()
                for i in range(0, n, FILL_BATCH)
            ]) if n else torch.zeros(0, model.backbone.config.hidden_size, device=strategy.device)
        feats = F.normalize(feats, dim=1)
        sums = torch.zeros(model.num_classes, feats.shape[1], device=feats.device).index_add_(0, y.to(feats.device), feats)
        counts = torch.bincount(y, minlength=model.num_classes).to(feats.device)
        self.means = F.normalize(sums / counts.unsqueeze(1), dim=1)  # 0/0: NaN rows for classes with no example

    def predict(self, strategy, ids: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        model = strategy.model
        feats = F.normalize(model.features(ids, model.predict_chunk_rows).float(), dim=1)
        scores = (feats @ self.means.T).nan_to_num(float("-inf"))
        return scores.masked_fill(~allowed, float("-inf")).argmax(dim=1)
