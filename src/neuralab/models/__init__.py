"""Model families, one file each. ``MODELS`` maps the names recipes use to classes."""

from neuralab.models.autoencoder import Autoencoder
from neuralab.models.autorec import AutoRec
from neuralab.models.cnn import CNN
from neuralab.models.dbn import DBN
from neuralab.models.dqn import DQN
from neuralab.models.embedding import SkipGram
from neuralab.models.factorization import MatrixFactorization
from neuralab.models.gan import GAN
from neuralab.models.mlp import MLP
from neuralab.models.mpnn import MPNN
from neuralab.models.policy_gradient import PPO, REINFORCE
from neuralab.models.rbm import RBM
from neuralab.models.rbm_cf import RBMCF
from neuralab.models.rnn import RNN, CharRNN, GlassBoxLSTM
from neuralab.models.tabular import TabularQ
from neuralab.models.vae import VAE

MODELS: dict[str, type] = {"mlp": MLP, "mpnn": MPNN, "cnn": CNN, "autoencoder": Autoencoder, "vae": VAE,
                           "rnn": RNN, "char_rnn": CharRNN, "skipgram": SkipGram, "rbm": RBM, "dbn": DBN,
                           "rbm_cf": RBMCF, "autorec": AutoRec, "mf": MatrixFactorization, "gan": GAN,
                           "tabular_q": TabularQ, "dqn": DQN, "reinforce": REINFORCE, "ppo": PPO}

__all__ = ["CNN", "DBN", "DQN", "GAN", "MLP", "MODELS", "MPNN", "PPO", "RBM", "RBMCF", "REINFORCE", "RNN", "VAE",
           "AutoRec", "Autoencoder", "CharRNN", "GlassBoxLSTM", "MatrixFactorization", "SkipGram", "TabularQ"]
