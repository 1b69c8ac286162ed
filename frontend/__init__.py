"""Static files of the Attention panel (plain ES modules), shipped inside tb_attention."""
